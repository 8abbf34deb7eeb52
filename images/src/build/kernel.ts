import { copyFile, mkdir, readdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileExists } from "@turgon/toolkit/apt";
import { DevError } from "@turgon/toolkit/errors";
import { run } from "@turgon/toolkit/run";
import { downloadAndExtract, resolveKernelPackage } from "../debian/packages.ts";

export interface Kernel {
  release: string;
  vmlinuz: string;
  /** `.../lib/modules/<release>` of the unpacked package. */
  modulesDir: string;
}

/** Downloads and unpacks the Debian kernel package that `metapackage` points at. */
export async function fetchKernel(metapackage: string, workDir: string): Promise<Kernel> {
  const pkg = await resolveKernelPackage(metapackage);
  const root = join(workDir, "kernel");
  await downloadAndExtract(pkg, join(workDir, "debs"), root);
  const image = (await readdir(join(root, "boot"))).find((file) => file.startsWith("vmlinuz-"));
  if (!image)
    throw new DevError(
      `${pkg} contains no /boot/vmlinuz-*`,
      "Pick a linux-image package in the recipe.",
    );
  const release = image.slice("vmlinuz-".length);
  for (const base of ["lib/modules", "usr/lib/modules"]) {
    const modulesDir = join(root, base, release);
    if (await fileExists(modulesDir))
      return { release, vmlinuz: join(root, "boot", image), modulesDir };
  }
  throw new DevError(
    `${pkg} contains no modules for ${release}`,
    "Pick a linux-image package in the recipe.",
  );
}

async function listModules(
  dir: string,
  found = new Map<string, string>(),
): Promise<Map<string, string>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await listModules(path, found);
    else if (/\.ko(\.(xz|zst|gz))?$/.test(entry.name)) {
      found.set(entry.name.replace(/\.ko(\..*)?$/, "").replaceAll("-", "_"), path);
    }
  }
  return found;
}

/** The given modules plus everything they depend on (per `modinfo -F depends`). */
export async function moduleClosure(kernel: Kernel, wanted: string[]): Promise<string[]> {
  const index = await listModules(join(kernel.modulesDir, "kernel"));
  const closure = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    const key = name.replaceAll("-", "_");
    const path = index.get(key);
    if (!path || closure.has(path)) return; // built into the kernel, or seen
    closure.add(path);
    const deps = (await run("modinfo", ["-F", "depends", path])).stdout.trim();
    for (const dep of deps.split(",").filter(Boolean)) await visit(dep);
  };
  for (const name of wanted) await visit(name);
  return [...closure];
}

/** Copies modules (keeping their paths) into `<root>/lib/modules/<release>` and runs depmod there. */
export async function installModules(
  kernel: Kernel,
  modules: string[],
  root: string,
): Promise<void> {
  const target = join(root, "lib", "modules", kernel.release);
  for (const module of modules) {
    const dest = join(target, relative(kernel.modulesDir, module));
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(module, dest);
  }
  for (const file of ["modules.builtin", "modules.builtin.modinfo", "modules.order"]) {
    if (await fileExists(join(kernel.modulesDir, file)))
      await copyFile(join(kernel.modulesDir, file), join(target, file));
  }
  const depmod = await run("depmod", ["-b", root, kernel.release]);
  if (depmod.exitCode !== 0)
    throw new DevError(
      `depmod failed for ${kernel.release}: ${depmod.tail}`,
      "Install kmod (apt-get install kmod).",
    );
}
