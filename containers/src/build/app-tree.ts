/**
 * Which of the checkout's files a process needs at run time: the TypeScript
 * modules its entry reaches by `import` (type-only imports excluded: Node
 * strips them), the workspace packages those live in, and the npm packages
 * they import with everything those depend on. The image carries just that,
 * in the checkout's own layout, so Node resolves modules there as it does
 * here (workspace links in node_modules/@turgon, nested node_modules).
 */
import { readFile, readlink, stat } from "node:fs/promises";
import { isBuiltin } from "node:module";
import { dirname, join, normalize, relative, resolve, sep } from "node:path";
import { DevError } from "@turgon/toolkit/errors";

export interface AppTree {
  /** Checkout-relative files of workspaces (modules and their package.json). */
  files: Set<string>;
  /** Checkout-relative npm package directories (each copied without its own node_modules). */
  packages: Set<string>;
  /** Checkout-relative symlinks to keep (node_modules/@turgon/<name> → the workspace), with their targets. */
  links: Map<string, string>;
}

interface Workspace {
  name: string;
  dir: string;
  exports: Record<string, string>;
}

/** Static imports, re-exports and side-effect imports; group 1 is "type " for type-only ones. */
const FROM = /\b(?:import|export)\s+(type\s+)?[^;"'`]*?\bfrom\s*["']([^"']+)["']/g;
const BARE_IMPORT = /\bimport\s*["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The module specifiers a source file loads at run time. */
export function runtimeSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(FROM)) if (!match[1] && match[2]) found.push(match[2]);
  for (const match of source.matchAll(BARE_IMPORT)) if (match[1]) found.push(match[1]);
  for (const match of source.matchAll(DYNAMIC_IMPORT)) if (match[1]) found.push(match[1]);
  return [...new Set(found)];
}

/** `@scope/name/sub` → ["@scope/name", "./sub"]; `name` → ["name", "."]. */
export function splitSpecifier(specifier: string): [string, string] {
  const parts = specifier.split("/");
  const nameParts = specifier.startsWith("@") ? 2 : 1;
  const name = parts.slice(0, nameParts).join("/");
  const sub = parts.slice(nameParts).join("/");
  return [name, sub ? `./${sub}` : "."];
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function loadWorkspaces(root: string): Promise<Map<string, Workspace>> {
  const { workspaces = [] } = await readJson<{ workspaces?: string[] }>(join(root, "package.json"));
  const map = new Map<string, Workspace>();
  for (const dir of workspaces) {
    const pkg = await readJson<{ name: string; exports?: Record<string, string> | string }>(
      join(root, dir, "package.json"),
    );
    const exports = typeof pkg.exports === "string" ? { ".": pkg.exports } : (pkg.exports ?? {});
    map.set(pkg.name, { name: pkg.name, dir, exports });
  }
  return map;
}

/**
 * Traces `entries` (checkout-relative .ts files) through their imports.
 * A specifier that does not resolve fails the trace, naming the file.
 */
export async function traceAppTree(root: string, entries: string[]): Promise<AppTree> {
  const workspaces = await loadWorkspaces(root);
  const tree: AppTree = { files: new Set(), packages: new Set(), links: new Map() };
  const queue = [...entries];
  const seenPackages: string[] = [];

  const addWorkspace = (ws: Workspace) => {
    tree.files.add(join(ws.dir, "package.json"));
    const link = join("node_modules", ws.name);
    tree.links.set(link, relative(dirname(link), ws.dir));
  };

  while (queue.length > 0) {
    const file = queue.shift() as string;
    if (tree.files.has(file)) continue;
    const source = await readFile(join(root, file), "utf8").catch(() => {
      throw new DevError(
        `${file} is imported but cannot be read`,
        "Check the import that names it.",
      );
    });
    tree.files.add(file);
    const owner = [...workspaces.values()].find((ws) => file.startsWith(`${ws.dir}/`));
    if (owner) addWorkspace(owner);
    if (!/\.[cm]?[jt]sx?$/.test(file)) continue;
    for (const specifier of runtimeSpecifiers(source)) {
      if (specifier.startsWith("node:") || isBuiltin(specifier)) continue;
      if (specifier.startsWith(".")) {
        queue.push(normalize(join(dirname(file), specifier)));
        continue;
      }
      const [name, sub] = splitSpecifier(specifier);
      const ws = workspaces.get(name);
      if (ws) {
        const target = ws.exports[sub];
        if (!target)
          throw new DevError(
            `${file} imports ${specifier}, which ${name}'s exports do not offer`,
            `Add "${sub}" to ${ws.dir}/package.json's exports, or import what it offers.`,
          );
        addWorkspace(ws);
        queue.push(normalize(join(ws.dir, target)));
        continue;
      }
      const pkg = await findPackage(root, dirname(file), name);
      if (!pkg)
        throw new DevError(
          `${file} imports ${specifier}, which is not installed`,
          "Run npm ci (sh dev/bin/bootstrap.sh) and build again.",
        );
      seenPackages.push(pkg);
    }
  }
  await addPackageClosure(root, seenPackages, tree);
  return tree;
}

/** Node's lookup of a package from `fromDir` (checkout-relative): each parent's node_modules, up to the checkout. */
async function findPackage(
  root: string,
  fromDir: string,
  name: string,
): Promise<string | undefined> {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (await isDir(join(root, candidate))) return normalize(candidate);
    if (dir === "." || dir === "" || dir === sep) return undefined;
    dir = dirname(dir);
  }
}

/** Adds each package and, transitively, what its package.json says it needs at run time. */
async function addPackageClosure(root: string, start: string[], tree: AppTree): Promise<void> {
  const queue = [...start];
  while (queue.length > 0) {
    const dir = queue.shift() as string;
    if (tree.packages.has(dir)) continue;
    const real = resolve(root, dir);
    const link = await readlink(real).catch(() => undefined);
    if (link !== undefined)
      throw new DevError(
        `${dir} is a link (${link}), not an installed package`,
        "Workspace packages are imported as @turgon/<name>; anything else must be installed by npm ci.",
      );
    tree.packages.add(dir);
    const pkg = await readJson<{
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    }>(join(real, "package.json"));
    const needed = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
    const peers = Object.keys(pkg.peerDependencies ?? {});
    for (const name of [...needed, ...peers]) {
      const found = await findPackage(root, dir, name);
      // Optional and peer dependencies may be absent (another platform's binary, an unused peer).
      if (found) queue.push(found);
      else if (pkg.dependencies?.[name])
        throw new DevError(
          `${dir} depends on ${name}, which is not installed`,
          "Run npm ci (sh dev/bin/bootstrap.sh) and build again.",
        );
    }
  }
}
