/**
 * Warm pools with real VMs (QEMU, supervised), through the agent's API: a
 * pool of one boots; a sandbox naming it is Running without a boot, with
 * its own env, a secret that only egress injection turns into its value,
 * and its app serving through ingress; the pool refills, and the second
 * claimant's VM has none of the first's files. A restarted agent re-adopts
 * claimed VMs by their sandbox's UID and stops warm ones no sandbox claimed.
 * Boots: two waited for, a third (the refill after the second claim) cut
 * short by the restart.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ObservedSandbox, ObservedWarmPool, WarmPoolEvent } from "@turgon/api/agent";
import {
  type ExternalHost,
  installCrds,
  kubectl,
  startExternalHost,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { type RunningAgent, startAgent } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { logger } from "../logger.ts";
import { listSupervisors } from "../supervisor/processes.ts";
import { insecureIngressHeaders, stopSupervisors, testAgentFlags } from "../testing.ts";

const SECRET = "warm-secret-5b1f07";

describe("warm pools with real VMs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-warm-vm-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("warm");
  const poolUid = randomUUID();
  let agent: RunningAgent;
  let upstream: ExternalHost;
  let config: ReturnType<typeof loadConfig>;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${agent.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const pool = (overrides: Record<string, unknown> = {}) => ({
    uid: poolUid,
    name: "web",
    namespace: "team-a",
    generation: 1,
    image: testEnvironment().guestImage,
    resources: { cpus: 1, memoryMiB: 512 },
    replicas: 1,
    ...overrides,
  });
  const sandbox = (uid: string, greeting: string) => ({
    uid,
    name: `claimant-${greeting}`,
    namespace: "team-a",
    generation: 1,
    image: testEnvironment().guestImage,
    resources: { cpus: 1, memoryMiB: 512 },
    env: { GREETING: greeting },
    command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/etc"],
    ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
    policy: {
      allowedHosts: [upstream.address],
      secrets: [{ name: "API_TOKEN", hosts: [upstream.address], value: SECRET }],
    },
    warmPool: { uid: poolUid },
  });
  const warmPool = async (): Promise<ObservedWarmPool | undefined> =>
    ((await call("GET", "/v1/warm-pools")).body.items as ObservedWarmPool[]).find(
      (p) => p.uid === poolUid,
    );
  /** Polls the pool until `check` holds (bounded: a TCG boot under load takes up to a minute or two). */
  const poolUntil = async (what: string, check: (p: ObservedWarmPool) => boolean) => {
    const deadline = Date.now() + 240_000;
    for (;;) {
      const found = await warmPool();
      if (found && check(found)) return found;
      if (Date.now() > deadline) throw new Error(`pool never ${what}: ${JSON.stringify(found)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  /** A claim: the PUT's round trip, and what it answered. */
  const claim = async (uid: string, greeting: string) => {
    const started = performance.now();
    const put = await call("PUT", `/v1/sandboxes/${uid}`, sandbox(uid, greeting));
    const ms = performance.now() - started;
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const observed = put.body.sandbox as ObservedSandbox;
    assert.equal(observed.phase, "Running", JSON.stringify(observed));
    assert.equal(observed.startedFrom, "warmPool");
    return { ms, observed };
  };
  const exec = (uid: string, script: string) => {
    const vm = agent.manager.get(uid)?.vm;
    assert.ok(vm, `${uid} runs`);
    return vm.exec(["/bin/sh", "-c", script]);
  };
  const serves = async (uid: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const page = await fetch(`${agent.ingressUrl}/`, {
        headers: insecureIngressHeaders(token, uid),
      });
      const text = await page.text();
      if (page.status === 200) return text;
      if (Date.now() > deadline) throw new Error(`ingress answered ${page.status}: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  const start = async () =>
    startAgent(config, logger.child({ test: "warm-vm" }, { level: "error" }));

  before(async () => {
    await installCrds();
    upstream = await startExternalHost();
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    config = loadConfig(
      testAgentFlags(dir, nodeName, "redis://127.0.0.1:1", {
        cpus: "2",
        "memory-mib": "2048",
        "max-vms": "4",
      }),
    );
    agent = await start();
  });

  after(async () => {
    await agent?.stop();
    if (agent) await stopSupervisors(agent.stateDir);
    await upstream?.stop();
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("claims warm VMs: Running without a boot, env, secrets by injection only, ingress, a fresh disk, refills; restart re-adopts", async () => {
    // Bad input names the field, and creates nothing.
    const bad = await call("PUT", `/v1/warm-pools/${poolUid}`, pool({ replicas: 101 }));
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body.fields as { path: string }[]).map((f) => f.path),
      ["replicas"],
    );
    const other = await call("PUT", `/v1/warm-pools/${randomUUID()}`, pool());
    assert.equal(other.status, 400);
    assert.match(String(other.body.message), /^uid: /);
    assert.equal(await warmPool(), undefined);

    // The event stream follows the pool's counts.
    const events: WarmPoolEvent[] = [];
    const onPool = (event: WarmPoolEvent) => events.push(event);
    agent.manager.on("warmPool", onPool);
    const created = await call("PUT", `/v1/warm-pools/${poolUid}`, pool());
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await poolUntil("ready", (p) => p.readyReplicas === 1);
    assert.ok(events.some((e) => e.warmPool.readyReplicas === 1));
    agent.manager.off("warmPool", onPool);

    // The first claimant.
    const a = randomUUID();
    const putAt = performance.now();
    const first = await claim(a, "first");
    // Ready means serving: how soon after the PUT the app answers its route (probed by the agent).
    const readyDeadline = Date.now() + 60_000;
    for (;;) {
      const seen = (await call("GET", `/v1/sandboxes/${a}`)).body as ObservedSandbox;
      if (seen.ingressReady?.ready) break;
      if (Date.now() > readyDeadline) throw new Error(`never ready: ${JSON.stringify(seen)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    console.log(`warm claim, PUT to ingressReady: ${(performance.now() - putAt).toFixed(0)} ms`);
    console.log(
      `warm claim, agent API round trip: ${first.ms.toFixed(0)} ms (TCG, shared machine)`,
    );
    const facts = await exec(
      a,
      'echo "$GREETING"; echo "$API_TOKEN"; tr "\\0" "\\n" < /proc/1/environ | grep -c API_TOKEN || true',
    );
    const [greeting, placeholder, inInit] = facts.stdout.trim().split("\n");
    assert.equal(greeting, "first", "the sandbox's env reaches exec");
    assert.ok(placeholder && placeholder !== SECRET, "the guest holds a placeholder");
    assert.equal(inInit, "0", "the guest's init never had a secret");
    // The secret reaches its host only through egress injection.
    const mark = upstream.received.length;
    const curl = await exec(
      a,
      `curl -s -o /dev/null -m 30 -x http://192.0.2.1:80 -H "Authorization: Bearer $API_TOKEN" -w '%{http_code}' '${upstream.url}/warm-secret'`,
    );
    assert.equal(curl.stdout.trim(), "200", curl.stderr);
    assert.deepEqual(
      upstream.received.slice(mark).map((r) => r.headers.authorization),
      [`Bearer ${SECRET}`],
    );
    assert.ok(!(await exec(a, "env")).stdout.includes(SECRET), "never the value in the guest");
    // The audit event names the sandbox that claimed the VM (not the warm VM), and no secret.
    const spooled = async () => {
      const files = (await readdir(join(dir, "spool"), { recursive: true, withFileTypes: true }))
        .filter((f) => f.isFile() && f.name.endsWith(".ndjson"))
        .map((f) => join(f.parentPath, f.name));
      return (await Promise.all(files.map((f) => readFile(f, "utf8")))).join("\n");
    };
    const auditDeadline = Date.now() + 15_000;
    while (!(await spooled()).includes("/warm-secret") && Date.now() < auditDeadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const audit = await spooled();
    const carried = audit
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { path?: string; sandbox?: { uid: string; name: string } })
      .find((event) => event.path === "/warm-secret");
    assert.equal(carried?.sandbox?.uid, a, "audited as the claimant");
    assert.equal(carried?.sandbox?.name, "claimant-first");
    assert.ok(!audit.includes(SECRET), "no secret in the spools");
    // Its app serves through ingress (the command was started at the claim).
    assert.match(await serves(a), /Directory listing for \//);
    // A file of the first claimant's, to look for in the second's VM.
    assert.equal((await exec(a, "echo mine > /srv/first-claimant && sync")).exitCode, 0);

    // The pool refills, with a new VM.
    await poolUntil("refilled", (p) => p.readyReplicas === 1 && p.replicas === 1);
    const metrics = await (await fetch(`${agent.apiUrl}/metrics`)).text();
    assert.match(metrics, /turgon_agent_warm_claims_total\{pool="team-a\/web"\} 1/);
    assert.match(metrics, /turgon_agent_warm_vms\{pool="team-a\/web",state="ready"\} 1/);
    assert.match(metrics, /turgon_agent_warm_claim_seconds_count 1/);
    const agentSide = Number(/turgon_agent_warm_claim_seconds_sum ([0-9.e-]+)/.exec(metrics)?.[1]);
    console.log(`warm claim, agent side: ${(agentSide * 1000).toFixed(0)} ms`);

    // The second claimant: the refilled VM, nothing of the first's.
    const b = randomUUID();
    const second = await claim(b, "second");
    console.log(`warm claim, agent API round trip: ${second.ms.toFixed(0)} ms (second)`);
    const fresh = await exec(
      b,
      'echo "$GREETING"; test -e /srv/first-claimant && echo found || echo absent',
    );
    assert.deepEqual(fresh.stdout.trim().split("\n"), ["second", "absent"]);
    assert.notEqual(agent.manager.get(b)?.hostPid(), agent.manager.get(a)?.hostPid());
    // A sandbox's PUT again is a no-op, as for any sandbox.
    const again = await call("PUT", `/v1/sandboxes/${b}`, sandbox(b, "second"));
    assert.equal(again.body.outcome, "unchanged");

    // The refill after the second claim is under way (booting or ready) when the agent restarts.
    await poolUntil("refilling", (p) => p.replicas === 1);
    await agent.stop();
    agent = await start();
    const listed = (await call("GET", "/v1/sandboxes")).body.items as ObservedSandbox[];
    const byUid = new Map(listed.map((s) => [s.uid, s]));
    for (const uid of [a, b]) {
      assert.equal(byUid.get(uid)?.phase, "Running", `${uid} re-adopted`);
      assert.equal(byUid.get(uid)?.startedFrom, "warmPool");
    }
    assert.equal(listed.length, 2, "the warm VM was not adopted as a sandbox");
    assert.deepEqual((await call("GET", "/v1/warm-pools")).body.items, []);
    const supervisors = await listSupervisors(agent.stateDir);
    assert.equal(supervisors.length, 2, "the unclaimed warm VM's supervisor is gone");
    assert.equal((await exec(b, 'echo "$GREETING"')).stdout.trim(), "second");
    assert.match(await serves(a), /Directory listing for \//);

    for (const uid of [a, b])
      assert.equal((await call("DELETE", `/v1/sandboxes/${uid}`)).status, 200);
    assert.equal((await listSupervisors(agent.stateDir)).length, 0);
  });
});
