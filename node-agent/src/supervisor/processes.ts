/**
 * Supervisor processes as the agent sees them: started detached (they outlive
 * the agent's SIGTERM and SIGKILL), found again by their record, and stopped
 * for good (`stopSupervisors`, for tests and `npm run down`).
 */
import { spawn } from "node:child_process";
import { mkdir, open, readdir, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { SupervisorRecord } from "@turgon/api/supervisor";
import type { Logger } from "../logger.ts";
import { supervisorEntry } from "./bundle.ts";
import { SupervisorClient } from "./client.ts";
import {
  FRONT_PORT_IN_USE_EXIT,
  type SupervisorOptions,
  supervisorPaths,
  supervisorsDir,
} from "./config.ts";
import { isQemu, isSupervisor, killAndWait, signalIf, waitGone } from "./process-identity.ts";
import { readSupervisorRecord } from "./record.ts";

/**
 * V8 flags for supervisors: a small young generation and a capped old one.
 * A supervisor holds one VM's hooks and streams; its heap stays small, and
 * every MiB it keeps counts once per VM on the node.
 */
export const SUPERVISOR_NODE_FLAGS = ["--max-semi-space-size=1", "--max-old-space-size=96"];

/** How long a new supervisor may take to answer its first hello. */
const START_TIMEOUT_MS = 30_000;

export class SupervisorStartError extends Error {}

/** The supervisor could not bind its front port: another process holds it (try another port). */
export class FrontPortInUse extends SupervisorStartError {
  readonly port: number;
  constructor(uid: string, port: number) {
    super(`the supervisor of ${uid} did not start: front port ${port} in use`);
    this.port = port;
  }
}

/** How a supervisor process is run. */
export interface SupervisorLaunch {
  /** V8 flags: SUPERVISOR_NODE_FLAGS by default. */
  nodeFlags?: string[];
  /** The entry: the bundle (built once, `supervisorEntry`) by default, or `main.ts`. */
  entry?: string;
}

/**
 * Starts the supervisor of one sandbox, in a session of its own (so neither
 * the agent's signals nor its exit reach it), logging to its directory;
 * resolves once it answers on its socket.
 */
export async function launchSupervisor(
  options: SupervisorOptions,
  launch: SupervisorLaunch = {},
): Promise<SupervisorClient> {
  const nodeFlags = launch.nodeFlags ?? SUPERVISOR_NODE_FLAGS;
  const entry = launch.entry ?? (await supervisorEntry());
  const paths = supervisorPaths(options.stateDir, options.uid);
  await mkdir(supervisorsDir(options.stateDir), { recursive: true, mode: 0o700 });
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const logFile = await open(paths.log, "a", 0o600);
  let exited: string | undefined;
  let exitCode: number | null = null;
  try {
    const child = spawn(process.execPath, [...nodeFlags, entry, JSON.stringify(options)], {
      detached: true,
      stdio: ["ignore", logFile.fd, logFile.fd],
      env: process.env,
    });
    child.once("exit", (code, signal) => {
      exitCode = code;
      exited = `exited with ${signal ?? `code ${code}`}`;
    });
    child.unref();
  } finally {
    await logFile.close();
  }
  const client = new SupervisorClient(paths.socket);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) break;
    const hello = await client.hello(2_000).catch(() => undefined);
    if (hello) return client;
    await sleep(100);
  }
  if (exitCode === FRONT_PORT_IN_USE_EXIT && options.front)
    throw new FrontPortInUse(options.uid, options.front.port);
  // The log's last lines say why (a Sandbox's status shows this message: kept short).
  const tail = (await readFile(paths.log, "utf8").catch(() => "")).trim().slice(-600);
  throw new SupervisorStartError(
    `the supervisor of ${options.uid} did not start (${exited ?? "no answer"}): ${tail}`,
  );
}

/** The supervisors under a state directory, by their records (a directory without one is skipped). */
export async function listSupervisors(
  stateDir: string,
): Promise<{ uid: string; record?: SupervisorRecord }[]> {
  const entries = await readdir(supervisorsDir(stateDir)).catch(() => [] as string[]);
  const found: { uid: string; record?: SupervisorRecord }[] = [];
  for (const uid of entries) {
    const record = await readSupervisorRecord(supervisorPaths(stateDir, uid).dir);
    found.push({ uid, ...(record ? { record } : {}) });
  }
  return found;
}

/**
 * The processes of a supervisor as last known: its pid, its QEMU's, and
 * their start times when known. A pid is signalled only while it still
 * names that process (see `process-identity.ts`).
 */
export type SupervisorPids = Pick<SupervisorRecord, "pid" | "qemuPid" | "qemuStartTime"> & {
  /** The supervisor's own start time (the agent reads it when it first meets the process). */
  startTime?: number;
};

/**
 * Ends what is left of a supervisor that no longer answers: the process (if
 * it hangs), its QEMU (which outlives it), and its directory. Returns
 * whether a QEMU was killed.
 */
export async function reapSupervisor(
  stateDir: string,
  uid: string,
  pids: SupervisorPids | undefined,
): Promise<boolean> {
  if (pids) await killAndWait(pids.pid, (pid) => isSupervisor(pid, uid, pids.startTime));
  let killed = false;
  const qemuPid = pids?.qemuPid;
  if (qemuPid) killed = await killAndWait(qemuPid, (pid) => isQemu(pid, pids.qemuStartTime));
  const paths = supervisorPaths(stateDir, uid);
  await rm(paths.socket, { force: true });
  await rm(paths.dir, { recursive: true, force: true });
  return killed;
}

/**
 * Stops every supervisor under `stateDir` and its VM (SIGTERM: a suspended
 * sandbox's checkpoint is kept), killing what does not stop within
 * `timeoutMs`. For tests, `npm run down` and the test global teardown:
 * supervisors outlive the agent by design, so whoever throws a state
 * directory away stops them first.
 */
export async function stopSupervisors(
  stateDir: string,
  options: { timeoutMs?: number; log?: Logger } = {},
): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const found = await listSupervisors(stateDir);
  await Promise.all(
    found.map(async ({ uid, record }) => {
      const ours = (pid: number) => isSupervisor(pid, uid);
      if (record && (await signalIf(record.pid, "SIGTERM", ours))) {
        if (!(await waitGone(() => ours(record.pid), timeoutMs)))
          options.log?.warn({ uid, pid: record.pid }, "a supervisor did not stop: killing it");
      }
      await reapSupervisor(stateDir, uid, record);
    }),
  );
  return found.map((f) => f.uid);
}
