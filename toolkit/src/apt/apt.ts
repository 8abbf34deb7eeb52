import { access, rm, writeFile } from "node:fs/promises";
import { AptInstallError, DevError, ToolMissingError } from "../errors.ts";
import { commandExists, run } from "../process/run.ts";
import { step } from "../progress.ts";

export interface DebianPackage {
  /** Debian package name. */
  name: string;
  /** Returns true when the package's program is already usable. */
  isInstalled: () => Promise<boolean>;
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

const POLICY_RC_D = "/usr/sbin/policy-rc.d";

/**
 * Installs the Debian packages whose programs are missing. Services that
 * Debian would start on install stay stopped (policy-rc.d): the platform
 * starts its own instances with their own data directories and ports.
 */
export async function ensureDebianPackages(
  packages: DebianPackage[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const missing: string[] = [];
  for (const pkg of packages) if (!(await pkg.isInstalled())) missing.push(pkg.name);
  if (missing.length === 0) return [];

  const manual = `apt-get install -y ${missing.join(" ")}`;
  if (!(await commandExists("apt-get", env))) {
    throw new ToolMissingError(
      "apt-get",
      `Turgon installs ${missing.join(", ")} with apt-get on Debian machines. On this machine install them yourself ` +
        `(Debian/Ubuntu: ${manual}) and put their programs on PATH, then run the command again.`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new DevError(
      `${missing.join(", ")} must be installed, and apt-get needs root`,
      `Run: sudo ${manual}`,
    );
  }

  const addedPolicy = !(await fileExists(POLICY_RC_D));
  if (addedPolicy) await writeFile(POLICY_RC_D, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    await aptGet(["update"], `apt-get update (for ${missing.join(", ")})`, env);
    await aptGet(
      ["install", "-y", "--no-install-recommends", ...missing],
      `apt-get install ${missing.join(" ")}`,
      env,
    );
  } finally {
    if (addedPolicy) await rm(POLICY_RC_D, { force: true });
  }
  return missing;
}

async function aptGet(args: string[], title: string, env: NodeJS.ProcessEnv): Promise<void> {
  const progress = step(title);
  const result = await run("apt-get", ["-o", "Dpkg::Use-Pty=0", ...args], {
    env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
    onLine: (line) => {
      if (/^(Get:|Unpacking|Setting up|Fetched)/.test(line)) progress.update(line.slice(0, 100));
    },
  });
  if (result.exitCode !== 0) {
    progress.fail();
    throw new AptInstallError(
      title,
      `apt-get ${args.join(" ")}`,
      result.exitCode,
      result.tail,
      "Check the Debian package sources (apt-get update) and free disk, then run the command again.",
    );
  }
  progress.done();
}
