/**
 * QEMU with arguments Gondolin does not pass. Gondolin 0.12 builds QEMU's
 * command line itself (no extra arguments, no `-object`, no `-device`), but
 * runs whatever `qemuPath` names; so a small shell script that `exec`s the
 * real QEMU with our arguments appended stands in for it. The script's
 * process becomes QEMU (same pid, QEMU's own command line), so nothing that
 * finds or signals QEMU by pid or command line sees a difference.
 *
 * Scripts live in a private directory of this user's under the temporary
 * directory (the agent's root filesystem is read-only; its /tmp is not), are
 * named by a hash of their content (written once, found after), and are
 * checked to be executable there (a noexec /tmp is refused by `access`).
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, chmod, lstat, mkdir, rename, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

export class QemuWrapperError extends Error {}

/** One shell word: single-quoted, with any single quote in it closed, escaped and reopened. */
const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** The script: QEMU with Gondolin's arguments, then `extraArgs`. */
export function qemuWrapperScript(qemuPath: string, extraArgs: string[]): string {
  return [
    "#!/bin/sh",
    "# Written by the Turgon node agent (node-agent/src/vm/qemu-wrapper.ts): QEMU",
    "# with arguments Gondolin cannot pass. Safe to delete; it is written again.",
    `exec ${shellQuote(qemuPath)} "$@" ${extraArgs.map(shellQuote).join(" ")}`,
    "",
  ].join("\n");
}

/**
 * `<tmp>/turgon-qemu-<uid>`, made 0700 and checked to be this user's own
 * directory with no access for others: a script someone else could write
 * would run as the agent.
 */
async function privateWrapperDir(): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `turgon-qemu-${uid}`);
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  const found = await lstat(dir);
  if (!found.isDirectory() || found.uid !== uid || (found.mode & 0o077) !== 0)
    throw new QemuWrapperError(
      `${dir} is not a private directory of this user's (owner ${found.uid}, mode ${(found.mode & 0o777).toString(8)}): refusing to put QEMU wrappers there`,
    );
  return dir;
}

/**
 * The path of a script that runs `qemuPath` with Gondolin's arguments and
 * `extraArgs`, written unless already there. Its file name is QEMU's own
 * (`<hash>/qemu-system-x86_64`), so Gondolin still reads the guest
 * architecture from it. Throws `QemuWrapperError` when it cannot be written
 * or would not run.
 */
export async function qemuWrapper(
  qemuPath: string,
  extraArgs: string[],
  dir?: string,
): Promise<string> {
  const script = qemuWrapperScript(qemuPath, extraArgs);
  const hash = createHash("sha256").update(script).digest("hex").slice(0, 16);
  try {
    const scriptDir = join(dir ?? (await privateWrapperDir()), hash);
    const path = join(scriptDir, basename(qemuPath));
    if (!(await stat(path).catch(() => undefined))?.isFile()) {
      await mkdir(scriptDir, { recursive: true, mode: 0o700 });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, script, { mode: 0o700 });
      await chmod(temporary, 0o700);
      await rename(temporary, path);
    }
    // X_OK also fails on a noexec mount, where spawning the script would.
    await access(path, constants.X_OK);
    return path;
  } catch (error) {
    if (error instanceof QemuWrapperError) throw error;
    throw new QemuWrapperError(
      `cannot write a QEMU wrapper: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
