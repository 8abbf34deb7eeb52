/**
 * umoci, Debian's OCI image tool, driven without a daemon: layouts are
 * plain directories (oci-layout, index.json, blobs/), layers are tar files
 * added verbatim, and the config is set flag by flag.
 */
import { copyFile, cp, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { runChecked } from "@turgon/toolkit/run";

const HINT = "umoci comes from Debian (apt-get install umoci); see its output above.";

export function umoci(what: string, args: string[]): Promise<string> {
  return runChecked(what, "umoci", args, { hint: HINT });
}

/** A fresh layout at `dir` holding one empty image tagged `tag` (umoci new: no layers, an empty config). */
export async function newLayout(dir: string, tag: string): Promise<void> {
  // umoci init refuses an existing directory, even an empty one.
  await rm(dir, { recursive: true, force: true });
  await umoci("creating an OCI layout", ["init", "--layout", dir]);
  await umoci("creating an empty image", ["new", "--image", `${dir}:${tag}`]);
}

/** Appends an uncompressed layer tar to `from`, written as the image `to` (umoci gzips it). */
export async function addLayer(
  layout: string,
  from: string,
  to: string,
  layerTar: string,
  createdBy: string,
): Promise<void> {
  await umoci(`adding the layer ${createdBy}`, [
    "raw",
    "add-layer",
    "--image",
    `${layout}:${from}`,
    "--tag",
    to,
    "--history.created_by",
    createdBy,
    layerTar,
  ]);
}

export interface ImageConfig {
  entrypoint?: string[];
  env?: Record<string, string>;
  user?: string;
  workingDir?: string;
  labels?: Record<string, string>;
}

/** Sets config fields of `from` into the image `to` (the same tag to change it in place). */
export async function configure(
  layout: string,
  from: string,
  to: string,
  config: ImageConfig,
): Promise<void> {
  const args = ["config", "--image", `${layout}:${from}`, "--no-history"];
  if (to !== from) args.push("--tag", to);
  for (const part of config.entrypoint ?? []) args.push("--config.entrypoint", part);
  for (const [name, value] of Object.entries(config.env ?? {}))
    args.push("--config.env", `${name}=${value}`);
  if (config.user) args.push("--config.user", config.user);
  if (config.workingDir) args.push("--config.workingdir", config.workingDir);
  for (const [name, value] of Object.entries(config.labels ?? {}))
    args.push("--config.label", `${name}=${value}`);
  await umoci("setting the image config", args);
}

/** Drops a tag and the blobs nothing else refers to. */
export async function removeTag(layout: string, tag: string): Promise<void> {
  await umoci("removing a tag", ["rm", "--image", `${layout}:${tag}`]);
  await umoci("collecting unused blobs", ["gc", "--layout", layout]);
}

/**
 * Copies a layout with its blobs hard-linked (blobs are content-addressed
 * and never rewritten, so sharing them costs no disk and no time); the
 * index, which umoci rewrites, is a real copy.
 */
export async function linkCopyLayout(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(dirname(to), { recursive: true });
  await runChecked("copying an OCI layout", "cp", ["-al", from, to]);
  for (const file of ["index.json", "oci-layout"]) {
    await rm(join(to, file), { force: true });
    await copyFile(join(from, file), join(to, file));
  }
  // The cache's completion marker is not part of a layout.
  await rm(join(to, ".complete"), { force: true });
}

/** Copies a directory tree preserving links and modes (workspace files, npm packages). */
export async function copyTree(from: string, to: string, skip?: (path: string) => boolean) {
  await cp(from, to, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: skip ? (source) => !skip(source) : undefined,
  });
}
