/**
 * Users' SSH public keys: one OpenSSH `authorized_keys`-style line, read with
 * ssh2's parser (the one the router's SSH gateway uses, so a key accepted
 * here is one the gateway can use) and fingerprinted as `ssh-keygen -l`
 * prints it. Pure (unit-tested); no database, no Next.js.
 */
import { createHash, createPublicKey } from "node:crypto";
import ssh2 from "ssh2";

/** Key types the SSH gateway accepts (api/routing's SshUsersFile allows exactly these). */
export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** RSA keys shorter than this are refused (OpenSSH itself refuses under 1024). */
export const MIN_RSA_BITS = 2048;
const MAX_LINE = 16_384;
const MAX_COMMENT = 256;

/** A public key that cannot be registered; the message says why, for the `publicKey` field. */
export class SshKeyError extends Error {
  override name = "SshKeyError";
  readonly field = "publicKey";
}

export interface SshPublicKey {
  type: SshKeyType;
  /** `<type> <base64>[ <comment>]`: what the router's users file carries. */
  line: string;
  /** `SHA256:<base64, unpadded>` of the key blob, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  bits: number;
  /** ED25519, ECDSA or RSA: the name `ssh-keygen -l` puts in brackets. */
  algorithm: "ED25519" | "ECDSA" | "RSA";
  comment: string;
}

/** `SHA256:<base64 without padding>` of an SSH public key blob. */
export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Reads one OpenSSH public key line: `<type> <base64> [comment]`. Refuses
 * private keys, `authorized_keys` options, several keys, types the gateway
 * cannot use (DSA, security keys, certificates), key data of another type
 * than named, and RSA keys under MIN_RSA_BITS.
 */
export function parseSshPublicKey(text: string): SshPublicKey {
  const trimmed = text.trim();
  if (!trimmed)
    throw new SshKeyError("Paste a public key, such as the contents of ~/.ssh/id_ed25519.pub.");
  if (/PRIVATE KEY-----/.test(trimmed))
    throw new SshKeyError(
      "This is a private key: never share it. Paste the public key (the .pub file) instead.",
    );
  if (trimmed.length > MAX_LINE) throw new SshKeyError("This is too long for a public key line.");
  if (/[\r\n]/.test(trimmed)) throw new SshKeyError("Paste one key (a single line) at a time.");
  const [type = "", data = "", ...rest] = trimmed.split(/[ \t]+/);
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type))
    throw new SshKeyError(unsupported(type));
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data))
    throw new SshKeyError(`The key data after "${type}" is not base64.`);
  const blob = Buffer.from(data, "base64");
  const named = blobType(blob);
  if (named !== type)
    throw new SshKeyError(
      named
        ? `The key data is for ${named}, but the line says ${type}.`
        : `The key data after "${type}" is not an SSH public key.`,
    );
  const parsed = ssh2.utils.parseKey(`${type} ${data}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error || key.type !== type || key.isPrivateKey())
    throw new SshKeyError(
      `This is not a valid ${type} key${key instanceof Error ? ` (${key.message})` : ""}.`,
    );
  if (!Buffer.from(key.getPublicSSH()).equals(blob))
    throw new SshKeyError(`This is not a valid ${type} key (trailing data).`);
  const bits = keyBits(type as SshKeyType, key.getPublicPEM());
  if (type === "ssh-rsa" && bits < MIN_RSA_BITS)
    throw new SshKeyError(
      `This RSA key has ${bits} bits; use at least ${MIN_RSA_BITS} (or better, an ed25519 key: ssh-keygen -t ed25519).`,
    );
  // Control characters never belong in a comment (they could rewrite a terminal showing it).
  const comment = rest
    .join(" ")
    .replace(/\p{Cc}/gu, "")
    .slice(0, MAX_COMMENT);
  return {
    type: type as SshKeyType,
    line: comment ? `${type} ${data} ${comment}` : `${type} ${data}`,
    fingerprint: sshFingerprint(blob),
    bits,
    algorithm: type === "ssh-ed25519" ? "ED25519" : type === "ssh-rsa" ? "RSA" : "ECDSA",
    comment,
  };
}

function unsupported(type: string): string {
  if (!type) return "Paste a public key line: <type> <base64 key> [comment].";
  if (/^sk-/.test(type))
    return "Security-key (sk-…) keys are not supported by the SSH gateway; use an ed25519, ECDSA or RSA key.";
  if (type === "ssh-dss") return "DSA keys are insecure and not supported; use an ed25519 key.";
  if (/-cert-v01@openssh\.com$/.test(type))
    return "Certificates are not supported; paste the plain public key.";
  if (/[=,"]/.test(type))
    return "Paste the key line without authorized_keys options: it must start with the key type.";
  return `"${type.slice(0, 40)}" is not a supported key type; use ${SSH_KEY_TYPES.join(", ")}.`;
}

/** The type name an SSH public key blob starts with (a uint32 length, then the name). */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length < 1 || length > 64 || blob.length < 4 + length) return undefined;
  const name = blob.subarray(4, 4 + length).toString("latin1");
  return /^[a-z0-9@.-]+$/.test(name) ? name : undefined;
}

function keyBits(type: SshKeyType, pem: string): number {
  if (type === "ssh-ed25519") return 256;
  if (type === "ssh-rsa") return createPublicKey(pem).asymmetricKeyDetails?.modulusLength ?? 0;
  return Number(type.slice("ecdsa-sha2-nistp".length));
}
