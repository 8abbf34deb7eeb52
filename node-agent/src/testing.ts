import { join } from "node:path";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER, signIngressTicket } from "@turgon/api/agent";
import { agentFlags, toArgs } from "@turgon/dev/stack";
import { type AgentPkiFiles, testEnvironment } from "@turgon/dev/testing";
import fc from "fast-check";
import type { GuestAccess } from "./sandboxes/handle.ts";
import { supervisorPaths } from "./supervisor/config.ts";
import { readSupervisorRecord } from "./supervisor/record.ts";

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
