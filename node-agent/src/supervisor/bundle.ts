/**
 * The supervisor as one JavaScript file: a supervisor is a Node process per
 * VM, and Node loading its TypeScript type stripping and a few dozen .ts
 * modules costs each one ~20 MiB of private memory that plain JS does not.
 * esbuild bundles `main.ts` and our workspace code (`@turgon/*`, relative
 * imports) into one ESM file; npm packages stay external and load from
 * node_modules as the plain JS they are, which is why the bundle lives in the
 * checkout (`node-agent/.cache/supervisor/`), where Node's resolution finds
 * node_modules. Its name carries a hash of its content, so an unchanged
 * bundle is found rather than written again, and the container image ships
 * it prebuilt (its root is read-only): an agent there builds the same bytes
 * in memory and finds the file. Any failure falls back to `main.ts`, with a
 * warning: the bundle saves memory, it never stops a VM from starting.
 */
import { createHash } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { access, mkdir, readdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";
import type { Logger } from "../logger.ts";
import { logger } from "../logger.ts";
import { supervisorBundleName } from "./process-identity.ts";

/** The supervisor's TypeScript entry: what older builds ran, and the fallback. */
export const SUPERVISOR_SOURCE_ENTRY = fileURLToPath(new URL("./main.ts", import.meta.url));
/** The checkout's root: esbuild's working directory, so the bundle names files relative to it (the same bytes in any checkout). */
const CHECKOUT_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Where bundles are written: inside the checkout, so npm packages resolve from node_modules. */
export const SUPERVISOR_BUNDLE_DIR = fileURLToPath(
  new URL("../../.cache/supervisor/", import.meta.url),
);
/** How many bundles a cache directory keeps (newest first): older builds' supervisors loaded theirs at start. */
const KEPT_BUNDLES = 4;

export class SupervisorBundleError extends Error {}

export interface SupervisorBundle {
  /** The bundle's absolute path. */
  path: string;
  /** False when a file of the same content was already there (a prebuilt or earlier bundle). */
  written: boolean;
  bytes: number;
  ms: number;
}

/** The first `node_modules/<name>` Node would find walking up from `dir`, as a real path. */
function findPackage(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, "node_modules", name);
    if (existsSync(candidate)) return realpathSync(candidate);
    if (dirname(at) === at) return undefined;
  }
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageName = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

/**
 * npm packages stay external, workspace packages are bundled. An external
 * must be the very copy the importing module would load: a workspace with a
 * nested node_modules of its own (another version) fails the build, naming it.
 */
function externalPackages(outDir: string): Plugin {
  return {
    name: "turgon-external-packages",
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith("node:")) return { external: true };
        if (args.path.startsWith("@turgon/")) return undefined;
        const name = packageName(args.path);
        const fromImporter = findPackage(args.resolveDir, name);
        const fromBundle = findPackage(outDir, name);
        if (fromImporter !== fromBundle)
          return {
            errors: [
              {
                text: `${name}, imported by ${relative(CHECKOUT_ROOT, args.importer)}, is ${fromImporter ?? "not installed"} there but ${fromBundle ?? "not installed"} from the bundle's directory`,
              },
            ],
          };
        return { external: true };
      });
    },
  };
}

/**
 * Builds the supervisor bundle into `outDir` (written only when no file of
 * that content is there yet) and prunes older bundles. Throws
 * `SupervisorBundleError` when esbuild fails.
 */
export async function buildSupervisorBundle(
  options: { outDir?: string; entry?: string } = {},
): Promise<SupervisorBundle> {
  const outDir = options.outDir ?? SUPERVISOR_BUNDLE_DIR;
  const started = performance.now();
  // Loaded here, not at the top: an agent whose esbuild is broken still starts (the fallback).
  const esbuild = await import("esbuild");
  let output: Uint8Array;
  try {
    const result = await esbuild.build({
      entryPoints: [options.entry ?? SUPERVISOR_SOURCE_ENTRY],
      absWorkingDir: CHECKOUT_ROOT,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
      write: false,
      outfile: join(outDir, "supervisor.mjs"),
      plugins: [externalPackages(outDir)],
      // No tsconfig is read (the image has none): class fields as Node's type stripping runs them.
      tsconfigRaw: { compilerOptions: { useDefineForClassFields: true } },
      logLevel: "silent",
    });
    const file = result.outputFiles[0];
    if (!file) throw new SupervisorBundleError("esbuild produced no output");
    output = file.contents;
  } catch (error) {
    if (error instanceof SupervisorBundleError) throw error;
    throw new SupervisorBundleError(
      `cannot bundle the supervisor: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    // esbuild keeps a service process for later builds: the agent builds once.
    await esbuild.stop();
  }
  const hash = createHash("sha256").update(output).digest("hex").slice(0, 16);
  const path = join(outDir, supervisorBundleName(hash));
  let written = false;
  if (!(await stat(path).catch(() => undefined))?.isFile()) {
    await mkdir(outDir, { recursive: true });
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, output);
    await rename(temporary, path);
    written = true;
    await pruneBundles(outDir, path);
  } else {
    // Used again: newest for pruning (a read-only image's file stays as it is).
    const now = new Date();
    await utimes(path, now, now).catch(() => {});
  }
  return { path, written, bytes: output.byteLength, ms: performance.now() - started };
}

/** Removes all but the newest KEPT_BUNDLES bundles (never `keep`); best effort. */
async function pruneBundles(outDir: string, keep: string): Promise<void> {
  const names = (await readdir(outDir).catch(() => [] as string[])).filter((name) =>
    name.endsWith(".mjs"),
  );
  const dated = await Promise.all(
    names.map(async (name) => ({
      path: join(outDir, name),
      mtimeMs: (await stat(join(outDir, name)).catch(() => undefined))?.mtimeMs ?? 0,
    })),
  );
  dated.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of dated.slice(KEPT_BUNDLES))
    if (old.path !== keep) await rm(old.path, { force: true });
}

/**
 * The entry supervisors run: the bundle, or `main.ts` (with a warning) when
 * it cannot be built or written. Never throws.
 */
export async function resolveSupervisorEntry(
  log: Logger,
  build: () => Promise<SupervisorBundle> = buildSupervisorBundle,
): Promise<string> {
  try {
    const bundle = await build();
    log.info(
      {
        bundle: bundle.path,
        written: bundle.written,
        bytes: bundle.bytes,
        ms: Math.round(bundle.ms),
      },
      "supervisors run from a bundle",
    );
    return bundle.path;
  } catch (error) {
    log.warn(
      { err: error, entry: SUPERVISOR_SOURCE_ENTRY },
      "cannot build the supervisor bundle: supervisors run from TypeScript",
    );
    return SUPERVISOR_SOURCE_ENTRY;
  }
}

/**
 * The entry of a process's supervisors, built once (at the agent's start or
 * the first launch), and again should the file be gone (another agent of
 * this checkout, built from newer sources, pruned it).
 */
export class SupervisorEntry {
  private entry: Promise<string> | undefined;
  private readonly log: Logger;
  private readonly build: () => Promise<SupervisorBundle>;
  constructor(log: Logger, build: () => Promise<SupervisorBundle> = buildSupervisorBundle) {
    this.log = log;
    this.build = build;
  }

  async get(): Promise<string> {
    this.entry ??= resolveSupervisorEntry(this.log, this.build);
    const entry = await this.entry;
    const there = await access(entry).then(
      () => true,
      () => false,
    );
    if (there) return entry;
    this.entry = resolveSupervisorEntry(this.log, this.build);
    return this.entry;
  }
}

let defaultEntry: SupervisorEntry | undefined;

/** The entry of this process's supervisors (`SupervisorEntry`, logging to `log` the first time). */
export function supervisorEntry(
  log: Logger = logger.child({ component: "supervisor-bundle" }),
): Promise<string> {
  defaultEntry ??= new SupervisorEntry(log);
  return defaultEntry.get();
}
