/**
 * Builds the OCI image of each Turgon process without a container daemon:
 *   1. a base layout per Debian base (debootstrap minbase + packages, from
 *      @turgon/images' cached Debian base) with the non-root user added;
 *   2. per component, a layer of the pinned Node 24 and the app tree (the
 *      modules and npm packages its entry needs, or Next's standalone build
 *      for web), with the entrypoint, user and static labels;
 *   3. per build, the revision label on a hard-linked copy (cheap), so a new
 *      commit that changes no input rebuilds nothing.
 * Steps 1 and 2 are cached on their inputs in the user cache directory.
 */
import { createHash } from "node:crypto";
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDashboardBuild } from "@turgon/dev/dashboard";
import { type DebianBaseSpec, ensureDebianBase } from "@turgon/images/debian-base";
import { buildSupervisorBundle } from "@turgon/node-agent/supervisor-bundle";
import { ensureDebianPackages } from "@turgon/toolkit/apt";
import { cachedArtifact, cacheRoot } from "@turgon/toolkit/cache";
import { releaseVersion } from "@turgon/toolkit/daemon";
import { DevError } from "@turgon/toolkit/errors";
import { withStep } from "@turgon/toolkit/progress";
import { run, runChecked } from "@turgon/toolkit/run";
import { traceAppTree } from "./app-tree.ts";
import {
  APP_DIR,
  COMMON_ENV,
  type Component,
  type ComponentImage,
  IMAGES,
  NODE_PATH,
  repository,
  USER,
} from "./components.ts";
import { addLayer, configure, copyTree, linkCopyLayout, newLayout, removeTag } from "./oci.ts";
import { OCI_BUILDER_PACKAGES } from "./packages.ts";

export {
  APP_DIR,
  COMPONENTS,
  type Component,
  IMAGES,
  NODE_PATH,
  repository,
  USER,
} from "./components.ts";

/** Bump when the builder's output changes for the same inputs. */
const BUILDER_REVISION = 3;
/** The tag of a cached image before the per-build labels; the published tag is the version. */
const CONTENT_TAG = "content";
/** Content images kept per component (the newest first), for other checkouts still publishing theirs. */
const KEEP_BUILDS = 2;
/** Base layouts kept: the two in use (Node's, the agent's) and one older each. */
const KEEP_BASES = 4;

/** The checkout this builder runs from. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Labels' PATH: Debian's, with /usr/local/bin first (Node). `umoci new` starts with no environment at all. */
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The release version (charts/package.json: the chart's appVersion) and the image tag. */
export function imageVersion(): string {
  const version = releaseVersion(join(repoRoot, "charts", "package.json"));
  if (version === "unknown")
    throw new DevError(
      "charts/package.json has no version",
      "Give charts/package.json a version (the chart's appVersion).",
    );
  return version;
}

/** `git rev-parse HEAD` of the checkout, or "unknown" (an exported tree, no git). */
export async function gitRevision(): Promise<string> {
  const result = await run("git", ["-C", repoRoot, "rev-parse", "HEAD"]).catch(() => undefined);
  const revision = result?.exitCode === 0 ? result.stdout.trim() : "";
  return /^[0-9a-f]{40}$/.test(revision) ? revision : "unknown";
}

/** Where the source lives: the checkout's `origin` remote, else the chart's home page. */
async function sourceUrl(): Promise<string> {
  const remote = await run("git", ["-C", repoRoot, "remote", "get-url", "origin"]).catch(
    () => undefined,
  );
  if (remote?.exitCode === 0 && remote.stdout.trim()) return remote.stdout.trim();
  const chart = await readFile(join(repoRoot, "charts", "turgon", "Chart.yaml"), "utf8");
  return chart.match(/^home:\s*(\S+)/m)?.[1] ?? "unknown";
}

function digest(parts: (string | Buffer)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex").slice(0, 16);
}

/** The pinned Node 24 this checkout runs on, which every image carries. */
function nodeBinary(): string {
  if (!process.versions.node.startsWith("24."))
    throw new DevError(
      `the images need Node 24, and this is Node ${process.versions.node}`,
      "Run through npm (npm run images:oci), which puts the pinned Node 24 of node_modules/.bin first.",
    );
  return process.execPath;
}

/** A base layout per Debian base: the debootstrapped root (without /dev's nodes) plus our user. */
async function ensureBaseLayout(debian: DebianBaseSpec): Promise<{ dir: string; key: string }> {
  const baseTar = await ensureDebianBase(debian);
  const key = `oci-base-${digest([String(BUILDER_REVISION), baseTar, JSON.stringify(USER)])}`;
  const { dir, built } = await cachedArtifact(key, (outDir) =>
    withStep(
      `OCI base layer from ${debian.packages.join(", ")} (once; cached)`,
      async (progress) => {
        const work = await mkdtemp(join(tmpdir(), "turgon-oci-base-"));
        try {
          const root = join(work, "root");
          await mkdir(root);
          progress.update("unpacking the Debian base");
          await runChecked("unpacking the Debian base", "tar", [
            "-C",
            root,
            "--numeric-owner",
            "-xf",
            baseTar,
          ]);
          // Device nodes belong to the runtime, which mounts its own /dev.
          for (const entry of await readdir(join(root, "dev")))
            await rm(join(root, "dev", entry), { recursive: true, force: true });
          await addUser(root);
          progress.update("writing the layer");
          const layer = join(work, "base.tar");
          await runChecked("archiving the base layer", "tar", [
            "-C",
            root,
            "--sort=name",
            "--numeric-owner",
            "-cf",
            layer,
            ".",
          ]);
          await newLayout(outDir, "empty");
          await addLayer(
            outDir,
            "empty",
            "base",
            layer,
            `debootstrap --variant=${debian.variant} ${debian.suite} (${debian.packages.join(", ")})`,
          );
          await removeTag(outDir, "empty");
        } finally {
          await rm(work, { recursive: true, force: true });
        }
      },
    ),
  );
  if (built) await pruneOld("oci-base-", key, KEEP_BASES - 1);
  return { dir, key };
}

/** The non-root user the images run as (the chart's podSecurity defaults), with no home and no shell. */
async function addUser(root: string): Promise<void> {
  const append = async (file: string, line: string) => {
    const path = join(root, "etc", file);
    const text = await readFile(path, "utf8");
    if (!text.split("\n").some((l) => l.startsWith(`${USER.name}:`)))
      await writeFile(path, `${text}${line}\n`);
  };
  await append(
    "passwd",
    `${USER.name}:x:${USER.uid}:${USER.gid}:Turgon:/nonexistent:/usr/sbin/nologin`,
  );
  await append("group", `${USER.name}:x:${USER.gid}:`);
  await append("shadow", `${USER.name}:!:19000::::::`);
}

/** What goes into a component's app layer, keyed by the content of every file. */
interface AppInputs {
  key: string;
  /** Fills a staging root (the image's / ) with the app's files. */
  stage(root: string): Promise<void>;
}

const STAGED_ALWAYS = ["charts/package.json"];

async function tracedAppInputs(image: ComponentImage): Promise<AppInputs> {
  const tree = await traceAppTree(repoRoot, image.entries);
  // Built into the checkout's cache (content-addressed), then staged as any file.
  const built = image.supervisorBundle
    ? [relative(repoRoot, (await buildSupervisorBundle()).path)]
    : [];
  const files = [...new Set([...tree.files, ...STAGED_ALWAYS, ...built])].sort();
  const packages = [...tree.packages].sort();
  const parts: (string | Buffer)[] = [
    ...files,
    ...packages,
    JSON.stringify([...tree.links].sort()),
  ];
  for (const file of files) parts.push(await readFile(join(repoRoot, file)));
  // npm packages are pinned by the lockfile: their package.json (name, version) identifies them.
  for (const pkg of packages) parts.push(await readFile(join(repoRoot, pkg, "package.json")));
  return {
    key: digest(parts),
    async stage(root) {
      const app = join(root, APP_DIR);
      for (const file of files) {
        await mkdir(dirname(join(app, file)), { recursive: true });
        await copyFile(join(repoRoot, file), join(app, file));
      }
      for (const pkg of packages) {
        const source = join(repoRoot, pkg);
        // Each package's own node_modules holds nested packages, staged on their own when needed.
        await copyTree(source, join(app, pkg), (path) =>
          path.startsWith(join(source, "node_modules")),
        );
      }
      for (const [link, target] of tree.links) {
        await mkdir(dirname(join(app, link)), { recursive: true });
        await runChecked("linking a workspace", "ln", ["-sfn", target, join(app, link)]);
      }
    },
  };
}

/** Web: Next's standalone build (cached by @turgon/dev on its own inputs) and the entrypoint. */
async function webAppInputs(): Promise<AppInputs> {
  const build = await ensureDashboardBuild();
  const own = ["containers/src/entrypoints/web.ts", ...STAGED_ALWAYS];
  const parts: (string | Buffer)[] = [build.key, ...own];
  for (const file of own) parts.push(await readFile(join(repoRoot, file)));
  return {
    key: digest(parts),
    async stage(root) {
      const app = join(root, APP_DIR);
      await copyTree(build.dir, app, (path) => path === join(build.dir, ".complete"));
      for (const file of own) {
        await mkdir(dirname(join(app, file)), { recursive: true });
        await copyFile(join(repoRoot, file), join(app, file));
      }
    },
  };
}

export interface ContentImage {
  component: Component;
  /** The cached layout, holding the image as CONTENT_TAG. */
  layout: string;
  key: string;
  /** False when nothing had changed and the cached image was reused. */
  built: boolean;
}

/** The image of `component` without the per-build labels, built unless its inputs are cached. */
export async function ensureContentImage(component: Component): Promise<ContentImage> {
  await ensureDebianPackages(OCI_BUILDER_PACKAGES);
  const image = IMAGES[component];
  const version = imageVersion();
  const base = await ensureBaseLayout(image.debian);
  const app = component === "web" ? await webAppInputs() : await tracedAppInputs(image);
  const node = nodeBinary();
  const nodeSize = (await stat(node)).size;
  const key = `oci-${component}-${digest([
    String(BUILDER_REVISION),
    base.key,
    app.key,
    process.version,
    String(nodeSize),
    JSON.stringify(image),
    version,
    await sourceUrl(),
  ])}`;
  const { dir, built } = await cachedArtifact(key, (outDir) =>
    withStep(`OCI image ${repository(component)}:${version}`, async (progress) => {
      const work = await mkdtemp(join(tmpdir(), `turgon-oci-${component}-`));
      try {
        const root = join(work, "root");
        await mkdir(root, { mode: 0o755 });
        progress.update("staging Node and the app");
        await mkdir(join(root, dirname(NODE_PATH)), { recursive: true });
        await copyFile(node, join(root, NODE_PATH));
        await chmod(join(root, NODE_PATH), 0o755);
        await app.stage(root);
        const top = ["usr", "opt"];
        for (const owned of image.ownedDirs) {
          // Parents as Debian has them (0755, root's); only the directory itself is the user's.
          await mkdir(dirname(join(root, owned)), { recursive: true, mode: 0o755 });
          await mkdir(join(root, owned), { mode: 0o750 });
          await chown(join(root, owned), USER.uid, USER.gid);
        }
        if (image.ownedDirs.length > 0) top.push("var");
        progress.update("writing the app layer");
        const layer = join(work, "app.tar");
        // Files are root's and read-only to the user (the chart also mounts the root read-only).
        await runChecked("archiving the app layer", "tar", [
          "-C",
          root,
          "--sort=name",
          "--numeric-owner",
          "--mtime=@0",
          "-cf",
          layer,
          ...top,
        ]);
        // Content addressed by the cache key: a new layout from the base's blobs, shared by hard links.
        await rm(outDir, { recursive: true, force: true });
        await linkCopyLayout(base.dir, outDir);
        await addLayer(
          outDir,
          "base",
          CONTENT_TAG,
          layer,
          `turgon ${component}: Node ${process.version} and the app`,
        );
        await configure(outDir, CONTENT_TAG, CONTENT_TAG, {
          entrypoint: image.entrypoint,
          env: { PATH, ...COMMON_ENV, ...image.env },
          user: `${USER.uid}:${USER.gid}`,
          workingDir: APP_DIR,
          labels: {
            "org.opencontainers.image.title": repository(component),
            "org.opencontainers.image.description": image.description,
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.source": await sourceUrl(),
          },
        });
        await removeTag(outDir, "base");
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }),
  );
  if (built) await pruneOld(`oci-${component}-`, key, KEEP_BUILDS - 1);
  return { component, layout: dir, key, built };
}

/**
 * Drops all but the newest `keep` cache entries named `<prefix><digest>`
 * besides `current` (each image is a few dozen MiB of its own).
 */
async function pruneOld(prefix: string, current: string, keep: number): Promise<void> {
  const root = cacheRoot();
  const names = (await readdir(root)).filter(
    (n) => n.startsWith(prefix) && n !== current && /^[0-9a-f]+$/.test(n.slice(prefix.length)),
  );
  const dated = await Promise.all(
    names.map(async (name) => ({ name, mtime: (await stat(join(root, name))).mtimeMs })),
  );
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(keep))
    await rm(join(root, name), { recursive: true, force: true });
}

export interface OciImage {
  component: Component;
  /** An OCI layout holding the image as `tag`. */
  layout: string;
  tag: string;
  revision: string;
  /** False when the content came from the cache. */
  built: boolean;
}

/**
 * The finished image in a layout of its own at `dir` (replaced): the cached
 * content plus this build's revision label, tagged with the version.
 */
export async function buildOciImage(component: Component, dir: string): Promise<OciImage> {
  const content = await ensureContentImage(component);
  const tag = imageVersion();
  const revision = await gitRevision();
  const partial = `${dir}.partial-${process.pid}`;
  await linkCopyLayout(content.layout, partial);
  await configure(partial, CONTENT_TAG, tag, {
    labels: { "org.opencontainers.image.revision": revision },
  });
  await removeTag(partial, CONTENT_TAG);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await rename(partial, dir);
  return { component, layout: dir, tag, revision, built: content.built };
}

/** Where `npm run images:oci` leaves the finished layouts: `<cache>/oci-images/<component>`. */
export function publishedLayoutDir(
  component: Component,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return join(cacheRoot(env), "oci-images", component);
}
