/**
 * Public keys made by the real ssh-keygen, read back by parseSshPublicKey:
 * fingerprints, sizes and types as `ssh-keygen -l` prints them; and the
 * lines that must be refused.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parseSshPublicKey, SshKeyError, sshFingerprint } from "./keys.ts";

const run = promisify(execFile);

describe("SSH public keys", () => {
  let dir: string;
  const made = new Map<string, string>();

  /** ssh-keygen makes a key pair; returns the public key file. */
  const keygen = async (name: string, args: string[]) => {
    const path = join(dir, name);
    await run("ssh-keygen", ["-q", "-N", "", "-C", `${name}@test`, "-f", path, ...args]);
    made.set(name, `${path}.pub`);
    return `${path}.pub`;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-ssh-keys-"));
    await keygen("ed25519", ["-t", "ed25519"]);
    await keygen("ecdsa256", ["-t", "ecdsa", "-b", "256"]);
    await keygen("ecdsa384", ["-t", "ecdsa", "-b", "384"]);
    await keygen("ecdsa521", ["-t", "ecdsa", "-b", "521"]);
    await keygen("rsa3072", ["-t", "rsa", "-b", "3072"]);
    await keygen("rsa1024", ["-t", "rsa", "-b", "1024"]);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fingerprints every supported type exactly as ssh-keygen -l does", async () => {
    for (const name of ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa3072"]) {
      const file = made.get(name) as string;
      const line = await readFile(file, "utf8");
      // `256 SHA256:… comment (ED25519)`
      const listed = (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", file])).stdout.trim();
      const [bits, fingerprint, comment, algorithm] =
        /^(\d+) (SHA256:\S+) (.*) \((\w+)\)$/.exec(listed)?.slice(1) ?? [];
      const key = parseSshPublicKey(line);
      assert.equal(key.fingerprint, fingerprint, name);
      assert.equal(String(key.bits), bits, name);
      assert.equal(key.algorithm, algorithm, name);
      assert.equal(key.comment, comment, name);
      assert.equal(key.line, line.trim(), name);
    }
  });

  it("normalizes spacing and keeps a key without a comment as two fields", async () => {
    const [type, data] = (await readFile(made.get("ed25519") as string, "utf8")).split(" ");
    const key = parseSshPublicKey(`  ${type}\t ${data}  \n`);
    assert.equal(key.line, `${type} ${data}`);
    assert.equal(key.comment, "");
    assert.equal(key.fingerprint, sshFingerprint(Buffer.from(data as string, "base64")));
  });

  it("refuses what the SSH gateway cannot use, saying why", async () => {
    const ed = (await readFile(made.get("ed25519") as string, "utf8")).trim();
    const [, edData = ""] = ed.split(" ");
    const rsa = (await readFile(made.get("rsa3072") as string, "utf8")).trim();
    const privateKey = await readFile(
      (made.get("ed25519") as string).replace(/\.pub$/, ""),
      "utf8",
    );
    const refused = (line: string, why: RegExp) =>
      assert.throws(
        () => parseSshPublicKey(line),
        (error: unknown) =>
          error instanceof SshKeyError && error.field === "publicKey" && why.test(error.message),
        `${JSON.stringify(line.slice(0, 60))} should be refused with ${why}`,
      );
    refused("", /Paste a public key/);
    refused(privateKey, /private key/);
    refused(`${ed}\n${rsa}`, /one key/);
    refused(`from="10.0.0.1" ${ed}`, /without authorized_keys options/);
    refused(`sk-ssh-ed25519@openssh.com ${edData}`, /Security-key/);
    refused("ssh-dss AAAAB3NzaC1kc3MAAACBAP", /DSA keys/);
    refused(`ssh-ed25519-cert-v01@openssh.com ${edData}`, /Certificates/);
    refused(`ssh-rsa ${edData}`, /is for ssh-ed25519, but the line says ssh-rsa/);
    refused("ssh-ed25519 not*base64", /not base64/);
    refused("ssh-ed25519", /not base64/);
    refused(`ssh-ed25519 ${Buffer.from("hello").toString("base64")}`, /not an SSH public key/);
    // Truncated key data, and key data with bytes after the key.
    refused(
      `ssh-ed25519 ${Buffer.from(edData, "base64").subarray(0, 30).toString("base64")}`,
      /not a valid ssh-ed25519 key/,
    );
    refused(
      `ssh-ed25519 ${Buffer.concat([Buffer.from(edData, "base64"), Buffer.from([0, 0, 0, 1, 7])]).toString("base64")}`,
      /not a valid ssh-ed25519 key/,
    );
    refused(await readFile(made.get("rsa1024") as string, "utf8"), /1024 bits; use at least 2048/);
  });
});
