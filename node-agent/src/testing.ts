import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER, signIngressTicket } from "@turgon/api/agent";
import { agentFlags, toArgs } from "@turgon/dev/stack";
import { type AgentPkiFiles, testEnvironment } from "@turgon/dev/testing";
import fc from "fast-check";
import type { GuestAccess } from "./sandboxes/handle.ts";
import { supervisorPaths } from "./supervisor/config.ts";
import { readSupervisorRecord } from "./supervisor/record.ts";

/** What every simulated sandbox's shared loopback backend answers (benchmarks find it by it). */
export { SIMULATED_RESPONSE } from "./vm/simulated.ts";

/**
 * Flags for an agent under test: its files under `dir`, the test platform's
 * API server, free ports unless given. With `pki` it serves TLS and knows
 * its callers by client certificate, as in production; without, it is an
 * `--insecure` agent with the bearer token in `dir/token`. Later flags in
 * `extra` override earlier ones.
 */
export function testAgentFlags(
  dir: string,
  nodeName: string,
  redisUrl: string,
  extra: Record<string, string> = {},
  pki?: AgentPkiFiles,
): string[] {
  return toArgs(
    agentFlags({
      node: nodeName,
      apiPort: 0,
      ingressPort: 0,
      access: pki ? { pki } : { tokenFile: join(dir, "token") },
      kubeconfig: testEnvironment().kubeconfig,
      dir,
      redisUrl,
      extra,
    }),
  );
}

/** Writes a file in a sandbox's guest through exec (what every runtime's VM offers). */
export async function writeGuestFile(
  vm: Pick<GuestAccess, "exec">,
  path: string,
  content: string,
): Promise<void> {
  const result = await vm.exec(["/bin/sh", "-c", 'cat > "$1"', "write-guest-file", path], {
    stdin: content,
  });
  if (result.exitCode !== 0) throw new Error(`writing ${path} in the guest: ${result.stderr}`);
}

/** The agent's entry in this checkout. */
const AGENT_MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Calls an `--insecure` agent's API as its clients do (bearer token, JSON both ways). */
export function agentApiCaller(apiUrl: string, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
}

/** A node agent running as a process of its own, as restart and upgrade tests need it. */
export interface AgentProcess {
  child: ChildProcess;
  /** What it logged so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` (SIGTERM by default) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the agent whose entry is `main` (this checkout's by default) with
 * `args`, and waits until its API answers on `apiUrl`, or, with `untilLogged`,
 * until it logged that message (30 s at most).
 */
export async function startAgentProcess(options: {
  args: string[];
  apiUrl: string;
  main?: string;
  logLevel?: string;
  untilLogged?: string;
}): Promise<AgentProcess> {
  let output = "";
  const child = spawn(process.execPath, [options.main ?? AGENT_MAIN, ...options.args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TURGON_LOG_LEVEL: options.logLevel ?? "warn" },
  });
  const collect = (data: Buffer) => {
    output += data.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const started = async () =>
    options.untilLogged
      ? output.includes(`"msg":${JSON.stringify(options.untilLogged)}`)
      : Boolean((await fetch(`${options.apiUrl}/healthz`).catch(() => undefined))?.ok);
  const running: AgentProcess = {
    child,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    },
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await started()) return running;
    await sleep(200);
  }
  await running.stop("SIGKILL");
  throw new Error(`the agent process did not come up: ${output.slice(-2000)}`);
}

/**
 * A guest command that starts a background process named `name` (a copy of
 * `sleep`), detached from the exec session, so it must outlive the session.
 */
export const startGuestMarker = (name = "turgon-marker") =>
  `cp /bin/sleep /srv/${name} && setsid /srv/${name} 100000 >/dev/null 2>&1 </dev/null &`;

/**
 * What shows a guest is the same machine, still running: its boot id, its
 * uptime, the pid of the marker process and the content of `file`.
 */
export async function guestFacts(
  exec: (command: string) => Promise<{ stdout: string }>,
  file: string,
  marker = "turgon-marker",
) {
  const { stdout } = await exec(
    `cat /proc/sys/kernel/random/boot_id; cut -d' ' -f1 /proc/uptime; pidof ${marker}; cat ${file}`,
  );
  const [bootId, uptime, markerPid, content] = stdout.trim().split("\n");
  return { bootId, uptime: Number(uptime), marker: markerPid, kept: content };
}

/**
 * A running VM with something to lose, made through an agent's API: a
 * sandbox of the test guest image, a file `/srv/kept.txt` holding `text`,
 * and a background marker process. Returns how to reach it and its facts
 * before whatever the test does to the agent.
 */
export async function bootMarkedSandbox(
  call: ReturnType<typeof agentApiCaller>,
  name: string,
  text: string,
) {
  const uid = randomUUID();
  const observe = async () =>
    (await call("GET", `/v1/sandboxes/${uid}`)).json as { phase: string; startedAt?: string };
  const exec = async (command: string) => {
    const { status, json } = await call("POST", `/v1/sandboxes/${uid}/exec`, { command });
    assert.equal(status, 200, JSON.stringify(json));
    return json as { exitCode: number; stdout: string; stderr: string };
  };
  const facts = () => guestFacts(exec, "/srv/kept.txt");
  const created = await call("PUT", `/v1/sandboxes/${uid}`, {
    uid,
    name,
    namespace: "team-a",
    generation: 1,
    image: testEnvironment().guestImage,
    resources: { cpus: 1, memoryMiB: 256 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const deadline = Date.now() + 120_000;
  let observed = await observe();
  while (observed.phase !== "Running" && Date.now() < deadline) {
    await sleep(250);
    observed = await observe();
  }
  assert.equal(observed.phase, "Running", JSON.stringify(observed));
  assert.ok(observed.startedAt);
  await exec(`echo ${text} > /srv/kept.txt`);
  await exec(startGuestMarker());
  const before = await facts();
  assert.equal(before.kept, text);
  assert.ok(before.marker, "the background process runs");
  return { uid, observe, exec, facts, observed, before };
}

/** Guest-side test servers (HTTP echo, WebSocket echo) for routing tests. */
export const GUEST_FIXTURES = new URL("./vm/fixtures/", import.meta.url).pathname;

/** What the router sends an `--insecure` agent's ingress port to reach sandbox `uid`. */
export function insecureIngressHeaders(token: string, uid: string): Record<string, string> {
  return { [SANDBOX_HEADER]: uid, [INGRESS_TICKET_HEADER]: signIngressTicket(token, uid) };
}

const CONTROL_SAMPLES = [
  '{"type":"start","command":["/bin/sh"],"tty":true}',
  '{"type":"resize","cols":80,"rows":24}',
  '{"type":"eof"}',
];

/**
 * A WebSocket frame a hostile client might send on an exec session: control
 * messages cut short or of the wrong shape, random text, and binary frames
 * on any channel (channel 0 is stdin). Text is valid UTF-8; a test adds
 * invalid UTF-8 on its own, since that ends the connection at once.
 */
export const execFrame: fc.Arbitrary<{ data: Buffer; binary: boolean }> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...CONTROL_SAMPLES), fc.nat())
    .map(([text, cut]) => ({ data: Buffer.from(text.slice(0, cut % text.length)), binary: false })),
  fc.json().map((text) => ({ data: Buffer.from(text), binary: false })),
  fc.string({ maxLength: 200 }).map((text) => ({ data: Buffer.from(text), binary: false })),
  fc
    .record({
      type: fc.constantFrom("resize", "eof", "start", "__proto__", ""),
      cols: fc.anything(),
      rows: fc.anything(),
    })
    .map((value) => ({ data: Buffer.from(JSON.stringify(value) ?? "null"), binary: false })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ data: Buffer.from(bytes), binary: true })),
);

/** An agent in a test's own process, for tests that reach into it (fault injection). */
export { type RunningAgent, startAgent } from "./agent.ts";
export { loadConfig } from "./config/config.ts";
export { validateDesired } from "./sandboxes/validate.ts";
export { isQemu } from "./supervisor/process-identity.ts";
/** Supervisors outlive their agent: a test that throws a state directory away stops them first. */
export { stopSupervisors } from "./supervisor/processes.ts";

/**
 * The host pid of sandbox `uid`'s QEMU, as its supervisor records it under the agent's state
 * directory (`<state-dir>/supervisors/<uid>/record.json`) once the VM has booted.
 */
export async function recordedQemuPid(stateDir: string, uid: string): Promise<number> {
  const { dir, record: path } = supervisorPaths(stateDir, uid);
  const record = await readSupervisorRecord(dir);
  if (record?.qemuPid === undefined) throw new Error(`${path} names no QEMU pid: the VM is not up`);
  return record.qemuPid;
}
