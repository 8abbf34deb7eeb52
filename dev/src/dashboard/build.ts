/**
 * The dashboard's production build (`next build`, standalone output), made
 * once per set of inputs and kept in the user cache directory outside the
 * checkout, so a fresh clone (CI's included) with a warm cache starts at once.
 */
import { createHash } from "node:crypto";
import { cp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { cachedArtifact, cacheRoot } from "@turgon/toolkit/cache";
import { CommandFailedError } from "@turgon/toolkit/errors";
import { withStep } from "@turgon/toolkit/progress";
import { run } from "@turgon/toolkit/run";
import { repoRoot } from "../paths.ts";

/** Bump when the way the build is made or laid out changes. */
const RECIPE = "standalone-1";
const CACHE_PREFIX = "web-dashboard-";
/** Older builds kept beside the newest, for other checkouts still running them. */
const KEEP_BUILDS = 4;

const webDir = join(repoRoot, "web");

/**
 * What the build reads: web/ (not its tests, benchmarks, README or Kubernetes manifests),
 * the workspace packages it bundles, the schema and the lockfile. Build
 * output and dependencies are never inputs.
 */
const INPUTS: { dir: string; skip: (path: string) => boolean }[] = [
  {
    dir: "web",
    skip: (p) =>
      /^web\/(\.next|node_modules|deploy|bench)(\/|$)/.test(p) ||
      p === "web/next-env.d.ts" ||
      p === "web/README.md",
  },
  { dir: "prisma", skip: (p) => /^prisma\/(node_modules|generated|migrations)(\/|$)/.test(p) },
  { dir: "api/src", skip: () => false },
  { dir: "toolkit/src", skip: () => false },
];
const INPUT_FILES = ["package-lock.json"];

function isTest(path: string): boolean {
  return /\.test\.tsx?$/.test(path);
}

async function listFiles(root: string, dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name)));
}

/**
 * A digest of every input file's path (relative to `root`, the checkout) and
 * content, with Node's version and the recipe: equal in every clone of the
 * same sources.
 */
export async function dashboardInputsDigest(root = repoRoot): Promise<string> {
  const files: string[] = [...INPUT_FILES];
  for (const input of INPUTS) {
    for (const file of await listFiles(root, input.dir)) {
      if (!input.skip(file) && !isTest(file)) files.push(file);
    }
  }
  files.sort();
  const hash = createHash("sha256").update(`${RECIPE}\0${process.version}\0`);
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(root, file)).catch(() => ""));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

export interface DashboardBuild {
  /** The standalone server: run `node <dir>/web/server.js`. */
  dir: string;
  serverJs: string;
  /** False when the build came from the cache. */
  built: boolean;
  key: string;
}

async function nextVersion(): Promise<string> {
  const pkg = JSON.parse(
    await readFile(join(repoRoot, "node_modules/next/package.json"), "utf8"),
  ) as { version: string };
  return pkg.version;
}

/** Returns the cached build for the current sources, running `next build` first when there is none. */
export async function ensureDashboardBuild(
  env: NodeJS.ProcessEnv = process.env,
): Promise<DashboardBuild> {
  const key = `${CACHE_PREFIX}next-${await nextVersion()}-${await dashboardInputsDigest()}`;
  const artifact = await cachedArtifact(key, (outDir) => buildInto(outDir, env), env);
  if (artifact.built) await pruneOldBuilds(key, env);
  return {
    dir: artifact.dir,
    serverJs: join(artifact.dir, "web", "server.js"),
    built: artifact.built,
    key,
  };
}

async function buildInto(outDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  await withStep("building the dashboard (next build, cached afterwards)", async (progress) => {
    const result = await run(
      process.execPath,
      [join(repoRoot, "node_modules/next/dist/bin/next"), "build"],
      {
        cwd: webDir,
        env: {
          ...env,
          NODE_ENV: "production",
          // No phoning home: the build must work offline.
          NEXT_TELEMETRY_DISABLED: "1",
        },
        onLine: (line) => {
          const text = line.trim();
          if (text) progress.update(text.slice(0, 100));
        },
      },
    );
    if (result.exitCode !== 0) {
      throw new CommandFailedError(
        "next build",
        `next build (in ${webDir})`,
        result.exitCode,
        result.tail,
        "Fix the error above in web/ and run the command again.",
      );
    }
  });
  // The standalone tree mirrors the repository (web/server.js, node_modules/);
  // static assets are not part of it and are copied beside the server.
  const nextDir = join(webDir, ".next");
  await cp(join(nextDir, "standalone"), outDir, { recursive: true, verbatimSymlinks: true });
  await cp(join(nextDir, "static"), join(outDir, "web", ".next", "static"), { recursive: true });
  const publicDir = join(webDir, "public");
  if (await stat(publicDir).catch(() => undefined))
    await cp(publicDir, join(outDir, "web", "public"), { recursive: true });
  await writeFile(
    join(outDir, "build-info.json"),
    `${JSON.stringify({ builtAt: new Date().toISOString(), node: process.version }, null, 2)}\n`,
  );
}

/** Drops all but the newest few dashboard builds from the cache. */
async function pruneOldBuilds(current: string, env: NodeJS.ProcessEnv): Promise<void> {
  const root = cacheRoot(env);
  const names = (await readdir(root)).filter(
    (n) => n.startsWith(CACHE_PREFIX) && n !== current && !/\.(lock|partial-\d+)$/.test(n),
  );
  const dated = await Promise.all(
    names.map(async (name) => ({ name, mtime: (await stat(join(root, name))).mtimeMs })),
  );
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(KEEP_BUILDS - 1))
    await rm(join(root, name), { recursive: true, force: true });
}
