import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DevError } from "@turgon/toolkit/errors";
import { run, runChecked } from "@turgon/toolkit/run";

const APT_HINT =
  "Check the Debian package sources (apt-get update) and free disk space, then run the build again.";

/** Follows a metapackage such as linux-image-cloud-amd64 to the versioned package it depends on. */
export async function resolveKernelPackage(metapackage: string): Promise<string> {
  const lookup = async () => {
    const result = await run("apt-cache", [
      "depends",
      "--no-recommends",
      "--no-suggests",
      metapackage,
    ]);
    return result.stdout.match(/Depends: (linux-image-[0-9][^\s]*)/)?.[1];
  };
  // A fresh machine may have no package lists yet: fetch them once and look again.
  const found = (await lookup()) ?? (await refreshPackageLists().then(lookup));
  if (!found) throw new DevError(`${metapackage} names no versioned linux-image package`, APT_HINT);
  return found;
}

let listsRefreshed = false;

/** `apt-get update`, at most once per process. */
export async function refreshPackageLists(): Promise<void> {
  if (listsRefreshed) return;
  await runChecked("apt-get update", "apt-get", ["update", "-q"], { hint: APT_HINT });
  listsRefreshed = true;
}

/** Downloads a .deb with apt-get (using the machine's package sources) and unpacks it into `dest`. */
export async function downloadAndExtract(
  pkg: string,
  workDir: string,
  dest: string,
): Promise<void> {
  await mkdir(workDir, { recursive: true });
  const download = () => run("apt-get", ["download", "-q", pkg], { cwd: workDir });
  if ((await download()).exitCode !== 0) {
    await refreshPackageLists();
    await runChecked(`downloading ${pkg}`, "apt-get", ["download", "-q", pkg], {
      cwd: workDir,
      hint: APT_HINT,
    });
  }
  const deb = (await readdir(workDir)).find(
    (file) => file.startsWith(`${pkg}_`) && file.endsWith(".deb"),
  );
  if (!deb)
    throw new DevError(`apt-get download ${pkg} produced no .deb`, "Run apt-get update and retry.");
  await mkdir(dest, { recursive: true });
  await runChecked(`unpacking ${pkg}`, "dpkg-deb", ["-x", join(workDir, deb), dest], {
    hint: APT_HINT,
  });
}

/**
 * The Debian mirror this machine's apt uses for `suite`, read from its
 * sources (deb822 `.sources` files or the one-line format), so the image is
 * built from the same place the machine installs its own packages from.
 */
export async function debianMirror(suite: string): Promise<string> {
  const files = ["/etc/apt/sources.list"];
  for (const file of await readdir("/etc/apt/sources.list.d").catch(() => [] as string[])) {
    if (file.endsWith(".sources") || file.endsWith(".list"))
      files.push(join("/etc/apt/sources.list.d", file));
  }
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = stanza.match(/^URIs:\s*(\S+)/m)?.[1];
      const suites = stanza.match(/^Suites:\s*(.+)$/m)?.[1]?.split(/\s+/) ?? [];
      if (uris && suites.includes(suite)) return uris;
    }
    for (const line of text.split("\n")) {
      const oneLine = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/);
      if (oneLine?.[1] && oneLine[2] === suite) return oneLine[1];
    }
  }
  throw new DevError(
    `no apt source for Debian ${suite} on this machine`,
    `Add a "${suite}" entry to /etc/apt/sources.list.d/ and run apt-get update.`,
  );
}
