import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { cachedArtifact } from "@turgon/toolkit/cache";
import { GoBuildError, ToolMissingError } from "@turgon/toolkit/errors";
import { type Step, withStep } from "@turgon/toolkit/progress";
import { commandExists, run } from "@turgon/toolkit/run";

export interface GoModuleSpec {
  /** Module path of the throw-away wrapper module. */
  module: string;
  goVersion: string;
  /** `go get` arguments: `path@version`, packages included. */
  requires: string[];
  /** `old=new@version` replace directives. */
  replaces: string[];
  /** Extra source files of the wrapper module (a main.go, say), by relative path. */
  files?: Record<string, string>;
}

export interface GoBinary {
  /** Import path of the main package. */
  pkg: string;
  /** Output file name. */
  name: string;
  /** `-X importpath.name=value` settings, such as version stamps. */
  linkerVariables?: Record<string, string>;
}

/** A short digest of a build recipe: cache keys change when the recipe does. */
export function recipeDigest(spec: GoModuleSpec, binaries: GoBinary[]): string {
  return createHash("sha256").update(JSON.stringify({ spec, binaries })).digest("hex").slice(0, 10);
}

const GO_HINT =
  "Go 1.24 or newer must be on PATH (Debian: apt-get install golang, or the go.dev tarball in /usr/local/go).";

export async function assertGoAvailable(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!(await commandExists("go", env))) throw new ToolMissingError("go", GO_HINT);
}

/**
 * Builds main packages from the Go module proxy in a wrapper module of our
 * own, so `replace` directives (the Kubernetes staging modules, etcd's
 * sibling modules) can be pinned to the release being built.
 */
export async function buildGoBinaries(
  spec: GoModuleSpec,
  binaries: GoBinary[],
  workDir: string,
  outDir: string,
  progress: Step,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  await assertGoAvailable(env);
  await mkdir(workDir, { recursive: true });
  await writeFile(join(workDir, "go.mod"), goModFile(spec));
  for (const [name, content] of Object.entries(spec.files ?? {})) {
    await mkdir(dirname(join(workDir, name)), { recursive: true });
    await writeFile(join(workDir, name), content);
  }
  const goEnv = { ...env, GOFLAGS: "-mod=mod", GOWORK: "off", CGO_ENABLED: "0" };
  if (spec.requires.length > 0) {
    progress.update("resolving modules");
    await goCommand(["get", ...spec.requires], workDir, goEnv, progress, "go get");
  }
  await mkdir(outDir, { recursive: true });
  for (const group of buildGroups(binaries)) {
    const names = group.binaries.map((b) => b.name).join(", ");
    let compiled = 0;
    await goCommand(
      [
        "build",
        "-v",
        `-ldflags=-s -w ${group.stamps}`,
        "-o",
        group.output(outDir),
        ...group.binaries.map((b) => b.pkg),
      ],
      workDir,
      goEnv,
      progress,
      `go build ${group.binaries.map((b) => b.pkg).join(" ")}`,
      // `-v` prints each package as it is compiled: count them for progress.
      (line) => {
        if (!line.startsWith("go: ")) progress.update(`${names}: ${++compiled} packages compiled`);
      },
    );
  }
}

/** Main packages built by one `go build`: they share the linker flags. */
export interface BuildGroup {
  binaries: GoBinary[];
  /** The `-X` flags, ready for `-ldflags`. */
  stamps: string;
  /** The `-o` argument: the file for one binary, the directory (trailing slash) for several. */
  output(outDir: string): string;
}

/**
 * Groups binaries into as few `go build` invocations as possible, so that
 * packages they share (most of Kubernetes) are compiled once and the links
 * run in parallel. Several packages in one build can only go to a directory,
 * named after each package's last path element, so a binary named otherwise
 * is built on its own.
 */
export function buildGroups(binaries: GoBinary[]): BuildGroup[] {
  const groups = new Map<string, GoBinary[]>();
  const single: GoBinary[][] = [];
  for (const binary of binaries) {
    const stamps = linkerStamps(binary);
    if (binary.pkg.slice(binary.pkg.lastIndexOf("/") + 1) !== binary.name) {
      single.push([binary]);
      continue;
    }
    groups.set(stamps, [...(groups.get(stamps) ?? []), binary]);
  }
  return [...groups.values(), ...single].map((members) => ({
    binaries: members,
    stamps: linkerStamps(members[0] as GoBinary),
    output: (outDir) =>
      members.length === 1 ? join(outDir, (members[0] as GoBinary).name) : `${outDir}/`,
  }));
}

function linkerStamps(binary: GoBinary): string {
  return Object.entries(binary.linkerVariables ?? {})
    .map(([name, value]) => `-X '${name}=${value}'`)
    .join(" ");
}

function goModFile(spec: GoModuleSpec): string {
  const replaces = spec.replaces.map((r) => {
    const [from, to] = r.split("=");
    const [path, version] = (to ?? "").split("@");
    return `\t${from} => ${path} ${version}\n`;
  });
  const replaceBlock = replaces.length > 0 ? `\nreplace (\n${replaces.join("")})\n` : "";
  return `module ${spec.module}\n\ngo ${spec.goVersion}\n${replaceBlock}`;
}

async function goCommand(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  progress: Step,
  what: string,
  onLine?: (line: string) => void,
): Promise<void> {
  const result = await run("go", args, {
    cwd,
    env,
    onLine: (line) => {
      if (line.startsWith("go: downloading ")) progress.update(line.slice(4));
      onLine?.(line);
    },
  });
  if (result.exitCode !== 0) {
    throw new GoBuildError(
      what,
      `go ${args.join(" ")} (in ${cwd})`,
      result.exitCode,
      result.tail,
      "Check that `go version` is 1.24 or newer and that the Go module proxy is reachable (go env GOPROXY). " +
        "Re-run to retry; nothing partial is cached.",
    );
  }
}

export interface CachedGoBuild {
  /** Cache key prefix, such as `etcd-v3.6.16`. */
  name: string;
  /** What the progress line says while building. */
  title: string;
  spec: GoModuleSpec;
  binaries: GoBinary[];
  /** Computes replace directives at build time (they stay out of the cache key). */
  resolveReplaces?: () => Promise<string[]>;
}

/**
 * Builds Go binaries once into the user cache and returns their directory.
 * The key holds a digest of the recipe, so changing a flag rebuilds.
 */
export async function cachedGoBinaries(
  build: CachedGoBuild,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const key = `${build.name}-linux-amd64-${recipeDigest(build.spec, build.binaries)}`;
  const { dir } = await cachedArtifact(
    key,
    (outDir) =>
      withStep(build.title, async (progress) => {
        await assertGoAvailable(env);
        const replaces = [...build.spec.replaces, ...((await build.resolveReplaces?.()) ?? [])];
        await buildGoBinaries(
          { ...build.spec, replaces },
          build.binaries,
          join(outDir, "src"),
          join(outDir, "bin"),
          progress,
          env,
        );
      }),
    env,
  );
  return join(dir, "bin");
}
