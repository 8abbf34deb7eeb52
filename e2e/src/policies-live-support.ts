/**
 * Helpers of the live policy tests on a real VM: the guest's view of a
 * host (curl through Gondolin's proxy, polled with a bound), the QEMU
 * process the agent runs the VM in, a policy set through the dashboard's
 * own tRPC as a user would (so it has history), and a collector of every
 * tRPC response and page HTML a test's browsers saw.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { recordedQemuPid } from "@turgon/node-agent/testing";
import type { Stack } from "@turgon/operator/testing";
import { trpcMutation, trpcQuery } from "./sandboxes-support.ts";

/** The HTTP status a guest's curl to `url` got, through Gondolin's proxy; `header` sent as is. */
export async function guestCurl(
  stack: Stack,
  uid: string,
  url: string,
  header?: string,
): Promise<number> {
  const headerArg = header ? `-H "${header}"` : "";
  const result = await stack.guestExec(uid, [
    "/bin/sh",
    "-c",
    `curl -s -o /dev/null -m 20 -x http://192.0.2.1:80 ${headerArg} -w '%{http_code}' '${url}'`,
  ]);
  assert.equal(result.exitCode, 0, result.stderr);
  return Number(result.stdout.trim());
}

/** A guest env variable's value as a new guest process sees it, or "unset". */
export async function guestVariable(stack: Stack, uid: string, name: string): Promise<string> {
  const result = await stack.guestExec(uid, ["/bin/sh", "-c", `printf %s "\${${name}-unset}"`]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout;
}

/**
 * Polls `read` at least `intervalMs` apart until `accept` holds, for at most
 * `timeoutMs`; how long it took and how many reads. Fails with the last value.
 */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 250 } = {},
): Promise<{ value: T; ms: number; reads: number }> {
  const started = Date.now();
  let reads = 0;
  let value: T;
  for (;;) {
    const readAt = Date.now();
    value = await read();
    reads += 1;
    if (accept(value)) return { value, ms: Date.now() - started, reads };
    if (Date.now() - started > timeoutMs)
      assert.fail(`${what}: not within ${timeoutMs} ms (${reads} reads); last ${String(value)}`);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - readAt))),
    );
  }
}

/** The host PID of the sandbox's QEMU, as its supervisor records it in the agent's state directory. */
export function vmHostPid(stack: Stack, uid: string): Promise<number> {
  return recordedQemuPid(join(stack.dir, "agent", "state"), uid);
}

/** Saves `spec` over the policy's current version through tRPC, as `cookie`'s user, with `reason`. */
export async function savePolicy(
  dashboardUrl: string,
  cookie: string,
  ref: { namespace: string; name: string },
  spec: Record<string, unknown>,
  reason: string,
): Promise<void> {
  const current = await trpcQuery(dashboardUrl, cookie, "policies.get", ref);
  assert.equal(current.status, 200, JSON.stringify(current.error));
  const { resourceVersion } = current.data as { resourceVersion: string };
  const saved = await trpcMutation(dashboardUrl, cookie, "policies.save", {
    ...ref,
    spec,
    resourceVersion,
    reason,
  });
  assert.equal(saved.status, 200, JSON.stringify(saved.error));
}
