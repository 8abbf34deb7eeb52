#!/usr/bin/env node
/**
 * A sandbox's supervisor: the process that holds its Gondolin VM, so the VM
 * outlives the node agent. Started by the agent (detached, in a session of
 * its own) with one JSON argument (`SupervisorOptions`); it logs to stdout,
 * which the agent points at `<dir>/supervisor.log`. It serves the protocol of
 * `@turgon/api/supervisor` on `<dir>/control.sock` until the agent stops it
 * (`POST /stop`), or until SIGTERM (`stopSupervisors`, tests, `npm run down`),
 * which closes the VM and keeps a suspended sandbox's checkpoint.
 */
import { rm } from "node:fs/promises";
import {
  SUPERVISOR_PROTOCOL,
  type SupervisorHello,
  type SupervisorRecord,
  type SupervisorState,
} from "@turgon/api/supervisor";
import { createLogger } from "@turgon/toolkit/logger";
import { AuditSpool } from "../audit/spool.ts";
import { nodeVmContext } from "../sandboxes/node-vm.ts";
import { Checkpoints } from "../state/checkpoints.ts";
import { FRONT_PORT_IN_USE_EXIT, SupervisorOptions, supervisorPaths } from "./config.ts";
import { processStartTime } from "./process-identity.ts";
import { writeSupervisorRecord } from "./record.ts";
import { SupervisorServer } from "./server.ts";

const options = SupervisorOptions.parse(JSON.parse(process.argv[2] ?? "null"));
const log = createLogger("node-agent-supervisor").child({ uid: options.uid });
const paths = supervisorPaths(options.stateDir, options.uid);
const startedAt = new Date().toISOString();

const spool = new AuditSpool({ dir: options.spoolDir, maxTotalBytes: options.spoolMaxMiB << 20 });
let qemuPid: number | undefined;
/** The QEMU's start time: the agent signals `qemuPid` only while it still names that process. */
let qemuStartTime: number | undefined;
let generation: number | undefined;
const hello = (): SupervisorHello => ({
  uid: options.uid,
  protocol: SUPERVISOR_PROTOCOL,
  version: options.version,
  pid: process.pid,
  ...(qemuPid ? { qemuPid } : {}),
  ...(qemuPid && qemuStartTime !== undefined ? { qemuStartTime } : {}),
  startedAt,
  ...(server.frontPort() ? { frontPort: server.frontPort() } : {}),
});

/** record.json: how a starting agent finds this supervisor and, if it died, its QEMU. */
let recording: Promise<void> = Promise.resolve();
const writeRecord = () => {
  const record: SupervisorRecord = {
    ...hello(),
    spoolDir: options.spoolDir,
    ...(generation !== undefined ? { generation } : {}),
  };
  recording = recording
    .then(() => writeSupervisorRecord(paths.dir, record))
    .catch((error: unknown) => log.error({ err: error }, "cannot write the supervisor record"));
  return recording;
};

const server = new SupervisorServer({
  socketPath: paths.socket,
  hello,
  log,
  context: {
    ...nodeVmContext(options.vm),
    log,
    audit: (event) => {
      spool
        .append(event)
        .catch((error) => log.error({ err: error, id: event.id }, "cannot spool an audit event"));
    },
    // The server keeps timings and reports them to the agent (its metrics).
    onTiming: () => {},
    // The QEMU pid goes into record.json (the agent reaps it if this process dies).
    records: {
      save: async (_uid, pid) => {
        qemuStartTime = await processStartTime(pid);
        qemuPid = pid;
        await writeRecord();
      },
      remove: async () => {
        qemuPid = undefined;
        qemuStartTime = undefined;
        await writeRecord();
      },
    },
    checkpoints: new Checkpoints(options.stateDir),
  },
  onState: (state: SupervisorState) => {
    if (state.desired && state.desired.generation !== generation) {
      generation = state.desired.generation;
      void writeRecord();
    }
  },
  onStopped: () => void exit(true),
  ...(options.front ? { front: options.front } : {}),
});

let exiting = false;
/** Closes the socket and the spool; a stopped sandbox's directory goes too. */
async function exit(removeDir: boolean): Promise<void> {
  if (exiting) return;
  exiting = true;
  await server.close().catch(() => {});
  await spool.close().catch(() => {});
  await recording;
  await rm(paths.socket, { force: true });
  if (removeDir) await rm(paths.dir, { recursive: true, force: true });
  log.info("supervisor exiting");
  process.exit(0);
}

// The agent's own signals never reach this process (a session of its own);
// SIGTERM here is a deliberate stop of this one VM (tests, `npm run down`).
const onSignal = (signal: NodeJS.Signals) => {
  log.info({ signal }, "stopping the VM");
  void server
    .stop({ keepSuspended: true })
    .catch((error: unknown) => log.error({ err: error }, "the VM did not stop cleanly"))
    .then(() => exit(true));
};
process.once("SIGTERM", onSignal);
process.once("SIGINT", onSignal);
process.on("SIGHUP", () => {});

// The record names the spool before the spool exists: the agent's shipper
// removes a drained spool that no supervisor's record names.
await writeRecord();
await spool.open();
spool.on("dropped", (count) =>
  log.error({ count }, "audit spool over its bound: dropped the oldest events"),
);
try {
  await server.listen();
} catch (error) {
  // Another process holds the port: the agent tries another (FrontPortInUse).
  // The front binds first: unbound, it is the front's port that is taken.
  const front = options.front;
  if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || !front || server.frontPort())
    throw error;
  process.stdout.write(`front port ${front.port} in use\n`);
  await spool.close().catch(() => {});
  process.exit(FRONT_PORT_IN_USE_EXIT);
}
// Now with the front's port.
await writeRecord();
log.info({ pid: process.pid, version: options.version }, "supervisor listening");
