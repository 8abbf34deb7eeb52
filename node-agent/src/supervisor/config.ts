import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SUPERVISOR_RECORD, SUPERVISOR_SOCKET } from "@turgon/api/supervisor";
import { z } from "zod";

/**
 * What a VM needs of its node, the same wherever the VM lives (a supervisor,
 * or the agent's own process): the agent builds it once from its flags.
 */
export const NodeVmSettings = z.strictObject({
  nodeName: z.string().min(1),
  accelerator: z.enum(["auto", "kvm", "tcg"]),
  tcgTranslationCacheMiB: z.int().min(1),
  /** Free page reporting (the launcher's default, on, when absent). */
  freePageReporting: z.boolean().optional(),
  imageStore: z.string().optional(),
  ingressHeaderTimeoutMs: z.int().min(1),
  platformCidrs: z.array(z.string()),
  dnsTrustedServers: z.array(z.string()).optional(),
});
export type NodeVmSettings = z.infer<typeof NodeVmSettings>;

/**
 * What the agent starts a supervisor with (one JSON argument; no secrets:
 * desired state, secret values included, comes over the socket).
 */
export const SupervisorOptions = z.strictObject({
  uid: z.string().min(1),
  /** The agent's state directory: checkpoints live there, shared with the agent. */
  stateDir: z.string().min(1),
  /** This supervisor's own audit spool (the agent ships it). */
  spoolDir: z.string().min(1),
  spoolMaxMiB: z.int().min(1),
  /** The agent's build; a later agent sees it in the hello. */
  version: z.string().min(1),
  vm: NodeVmSettings,
  /**
   * Where the sandbox's ingress front listens (port 0: one the kernel picks).
   * Its credentials come over the socket (`PUT /front`), never in argv.
   */
  front: z.strictObject({ host: z.string().min(1), port: z.int().min(0).max(65_535) }).optional(),
});
export type SupervisorOptions = z.infer<typeof SupervisorOptions>;

/** The exit code of a supervisor whose front port another process holds (EX_TEMPFAIL). */
export const FRONT_PORT_IN_USE_EXIT = 75;

/** `<state-dir>/supervisors`: one directory per supervised sandbox (mode 0700). */
export const supervisorsDir = (stateDir: string) => join(stateDir, "supervisors");

/** A Unix socket's path must fit `sun_path` (108 bytes with its NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * The supervisor's socket: `<dir>/control.sock`, or, when that path is too
 * long for a Unix socket (a deep state directory, as tests make), a name of
 * the same path's hash in a private directory of this user's under the
 * temporary directory. Both sides compute it from the same inputs; the
 * socket is 0600 either way.
 */
function socketPath(dir: string): string {
  const inDir = join(dir, SUPERVISOR_SOCKET);
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH_BYTES) return inDir;
  const hash = createHash("sha256").update(inDir).digest("hex").slice(0, 24);
  return join(privateSocketsDir(), `${hash}.sock`);
}

/**
 * `<tmp>/turgon-supervisors-<uid>`, made 0700 and checked to be this user's
 * own directory with no access for others: anyone may create names in the
 * temporary directory, so a name there that someone else made first must
 * never be bound or connected to (it would see the desired state, secrets
 * included).
 */
function privateSocketsDir(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `turgon-supervisors-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const found = lstatSync(dir);
  if (!found.isDirectory() || found.uid !== uid || (found.mode & 0o077) !== 0)
    throw new Error(
      `${dir} is not a private directory of this user's (owner ${found.uid}, mode ${(found.mode & 0o777).toString(8)}): refusing to put supervisor sockets there`,
    );
  return dir;
}

/** Where one sandbox's supervisor keeps its socket, record and log. */
export function supervisorPaths(stateDir: string, uid: string) {
  const dir = join(supervisorsDir(stateDir), uid);
  return {
    dir,
    socket: socketPath(dir),
    record: join(dir, SUPERVISOR_RECORD),
    log: join(dir, "supervisor.log"),
  };
}

/** Where the supervisors' audit spools live: `<spool-dir>/supervisors`. */
export const supervisorSpoolsDir = (spoolDir: string) => join(spoolDir, "supervisors");

/**
 * One supervisor's audit spool, shipped by the agent: `<uid>.<instance>`, so a
 * sandbox rebooted into a new supervisor never writes into the spool of the
 * one before, which the shipper drains and removes.
 */
export const supervisorSpoolDir = (spoolDir: string, uid: string) =>
  join(supervisorSpoolsDir(spoolDir), `${uid}.${randomBytes(4).toString("hex")}`);
