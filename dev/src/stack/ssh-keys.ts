import { access, readFile } from "node:fs/promises";
import { DevError } from "@turgon/toolkit/errors";
import { run } from "@turgon/toolkit/run";

/**
 * An ed25519 key pair in OpenSSH's files (`path`, `path.pub`), made with
 * ssh-keygen unless it exists: the router's host key, a test's user keys.
 */
export async function ensureSshKeyPair(
  path: string,
  comment: string,
): Promise<{ path: string; publicKey: string }> {
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (!exists) {
    const made = await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      comment,
      "-f",
      path,
    ]);
    if (made.exitCode !== 0) throw new DevError(`ssh-keygen could not make ${path}`, made.tail);
  }
  return { path, publicKey: (await readFile(`${path}.pub`, "utf8")).trim() };
}
