import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cachedArtifact } from "@turgon/toolkit/cache";
import { withStep } from "@turgon/toolkit/progress";
import { runChecked } from "@turgon/toolkit/run";
import { debianMirror } from "../debian/packages.ts";
import type { ImageRecipe } from "../recipe/schema.ts";

/** What a Debian base is made of: a recipe's `debian` part. */
export type DebianBaseSpec = ImageRecipe["debian"];

/**
 * The debootstrapped Debian base as a tarball, cached by suite, variant,
 * package list and mirror: the slow part of an image build, shared by every
 * image that asks for the same base (guest images here, and the OCI images
 * of containers/).
 */
export async function ensureDebianBase(debian: DebianBaseSpec): Promise<string> {
  const mirror = await debianMirror(debian.suite);
  const base = { ...debian, packages: [...debian.packages].sort(), mirror };
  const digest = createHash("sha256").update(JSON.stringify(base)).digest("hex").slice(0, 12);
  const { dir } = await cachedArtifact(`debian-base-${debian.suite}-${digest}`, async (outDir) => {
    const target = join(outDir, "root");
    await withStep(
      `debootstrap --variant=${base.variant} ${base.suite} with ${base.packages.join(", ")} (once; cached)`,
      async (progress) => {
        await runChecked(
          "debootstrap",
          "debootstrap",
          [
            `--variant=${base.variant}`,
            `--include=${base.packages.join(",")}`,
            base.suite,
            target,
            mirror,
          ],
          {
            onLine: (line) => {
              if (/^I: (Retrieving|Validating|Unpacking|Configuring|Installing)/.test(line))
                progress.update(line.slice(3, 90));
            },
            hint: "debootstrap needs root and the Debian mirror from this machine's apt sources.",
          },
        );
      },
    );
    // Package caches and docs only make the image bigger.
    for (const path of [
      "var/cache/apt/archives",
      "var/lib/apt/lists",
      "usr/share/doc",
      "usr/share/man",
      "usr/share/info",
    ]) {
      await rm(join(target, path), { recursive: true, force: true });
      await mkdir(join(target, path), { recursive: true });
    }
    await runChecked("archiving the Debian base", "tar", [
      "-C",
      target,
      "--numeric-owner",
      "-cf",
      join(outDir, "base.tar"),
      ".",
    ]);
    await rm(target, { recursive: true, force: true });
  });
  return join(dir, "base.tar");
}

export interface RootfsInput {
  recipe: ImageRecipe;
  baseTar: string;
  daemonsDir: string;
  daemons: readonly string[];
  initScript: string;
  workDir: string;
  output: string;
}

/** Layers the guest daemons and init onto the Debian base and writes an ext4 image. */
export async function buildRootfs(input: RootfsInput): Promise<void> {
  const root = join(input.workDir, "rootfs");
  await mkdir(root, { recursive: true });
  await runChecked("unpacking the Debian base", "tar", [
    "-C",
    root,
    "--numeric-owner",
    "-xf",
    input.baseTar,
  ]);

  for (const daemon of input.daemons) {
    await copyFile(join(input.daemonsDir, daemon), join(root, "usr", "bin", daemon));
    await chmod(join(root, "usr", "bin", daemon), 0o755);
  }
  await copyFile(input.initScript, join(root, "init"));
  await chmod(join(root, "init"), 0o755);
  // Mount points that must exist even on a read-only root disk.
  for (const dir of ["data", "etc/gondolin"]) await mkdir(join(root, dir), { recursive: true });
  await rm(join(root, "etc", "resolv.conf"), { force: true });
  await symlink("/run/resolv.conf", join(root, "etc", "resolv.conf"));
  await writeFile(join(root, "etc", "hostname"), "sandbox\n");

  const usedMiB = Number.parseInt(
    (await runChecked("measuring the rootfs", "du", ["-sm", root])).split("\t")[0] ?? "0",
    10,
  );
  const sizeMiB = Math.ceil(usedMiB * 1.1) + input.recipe.rootfs.freeSpaceMiB;
  await runChecked("writing rootfs.ext4", "mke2fs", [
    "-q",
    "-t",
    "ext4",
    "-d",
    root,
    "-L",
    "gondolin-root",
    "-m",
    "0",
    "-O",
    "^has_journal",
    "-b",
    "4096",
    "-F",
    input.output,
    `${sizeMiB}M`,
  ]);
  await rm(root, { recursive: true, force: true });
}
