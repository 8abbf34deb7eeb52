/**
 * An agent on the simulated runtime (control-plane scale benchmarks): it
 * takes sandboxes through the same API and lifecycle without booting QEMU,
 * and its SandboxNode says it is simulated.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AgentEvent, type ObservedSandbox, type SandboxEvent } from "@turgon/api/agent";
import { installCrds, kubectl, uniqueName } from "@turgon/dev/testing";
import WebSocket from "ws";
import { type RunningAgent, startAgent } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { logger } from "../logger.ts";
import { insecureIngressHeaders, testAgentFlags } from "../testing.ts";
import { SIMULATED_RESPONSE } from "./simulated.ts";

describe("node agent on the simulated runtime", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-sim-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("sim");
  let agent: RunningAgent;

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
  const desired = (uid: string, operatingMode: "Running" | "Suspended" = "Running") => ({
    uid,
    name: "sim",
    namespace: "team-a",
    generation: 1,
    image: "not-in-any-store:simulated",
    resources: { cpus: 1, memoryMiB: 512 },
    command: ["python3", "-m", "http.server", "8000"],
    ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
    operatingMode,
  });
  const waitFor = async (uid: string, phase: string): Promise<ObservedSandbox> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { body } = await call("GET", `/v1/sandboxes/${uid}`);
      if (body.phase === phase) return body as unknown as ObservedSandbox;
      if (Date.now() > deadline) throw new Error(`${uid} stayed ${String(body.phase)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  before(async () => {
    await installCrds();
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    const config = loadConfig(
      testAgentFlags(dir, nodeName, "redis://127.0.0.1:1", {
        runtime: "simulated",
        "simulated-boot-ms": "300",
        cpus: "2",
      }),
    );
    agent = await startAgent(config, logger.child({ test: "simulated" }, { level: "error" }));
  });

  after(async () => {
    await agent?.stop();
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts a PUT, reaches Running and labels its SandboxNode simulated", async () => {
    const uid = randomUUID();
    const created = await call("PUT", `/v1/sandboxes/${uid}`, desired(uid));
    assert.equal(created.status, 201);
    const running = await waitFor(uid, "Running");
    assert.deepEqual(running.routes, [{ prefix: "/", port: 8000, stripPrefix: true }]);
    assert.equal(running.lastActivityAt, undefined, "no activity yet");

    const label = await kubectl([
      "get",
      "sandboxnode",
      nodeName,
      "-o",
      "jsonpath={.metadata.labels.turgon\\.dev/runtime}",
    ]);
    assert.equal(label.stdout, "simulated");

    const page = await fetch(`${agent.ingressUrl}/`, {
      headers: insecureIngressHeaders(token, uid),
    });
    assert.equal(page.status, 200);
    assert.equal(await page.text(), SIMULATED_RESPONSE);
    const { body } = await call("GET", `/v1/sandboxes/${uid}`);
    assert.ok(body.lastActivityAt, "an ingress request is activity");
    assert.equal((await call("DELETE", `/v1/sandboxes/${uid}`)).status, 200);
  });

  it("overcommits vCPUs: 2 offered at the default ratio 4 take 8 one-vCPU sandboxes, not a 9th", async () => {
    const status = await kubectl([
      "get",
      "sandboxnode",
      nodeName,
      "-o",
      "jsonpath={.status.capacity.cpus} {.status.allocatable.cpus} {.status.allocatable.memory}",
    ]);
    assert.equal(status.stdout, "2 8 4096Mi", "capacity as offered, allocatable overcommitted");
    const small = (uid: string) => ({ ...desired(uid), resources: { cpus: 1, memoryMiB: 256 } });
    const uids = Array.from({ length: 8 }, () => randomUUID());
    try {
      for (const uid of uids) {
        const created = await call("PUT", `/v1/sandboxes/${uid}`, small(uid));
        assert.equal(created.status, 201, JSON.stringify(created.body));
      }
      await Promise.all(uids.map((uid) => waitFor(uid, "Running")));
      const extra = randomUUID();
      const refused = await call("PUT", `/v1/sandboxes/${extra}`, small(extra));
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error, "NodeFull");
      assert.match(String(refused.body.message), /0 of 8 allocatable vCPUs/);
    } finally {
      for (const uid of uids) await call("DELETE", `/v1/sandboxes/${uid}`);
    }
  });

  it("suspends a sandbox still booting once it has booted, resumes it, and deletes its checkpoint", async () => {
    const uid = randomUUID();
    const events: SandboxEvent[] = [];
    const record = (event: SandboxEvent) => {
      if (event.sandbox.uid === uid) events.push(event);
    };
    agent.manager.on("event", record);
    try {
      await call("PUT", `/v1/sandboxes/${uid}`, desired(uid));
      const suspend = await call("PUT", `/v1/sandboxes/${uid}`, desired(uid, "Suspended"));
      assert.equal(suspend.body.outcome, "updated", "operatingMode is no reboot");
      const suspended = await waitFor(uid, "Suspended");
      assert.equal(suspended.reason, "Checkpointed");
      const checkpoint = join(dir, "state", "checkpoints", `${uid}.qcow2`);
      await access(checkpoint);
      const refused = await fetch(`${agent.ingressUrl}/`, {
        headers: insecureIngressHeaders(token, uid),
      });
      assert.equal(refused.status, 503);
      assert.equal(agent.manager.free().vms, 15, "a suspended sandbox keeps its slot");

      await call("PUT", `/v1/sandboxes/${uid}`, desired(uid));
      const resumed = await waitFor(uid, "Running");
      assert.ok(resumed.lastActivityAt, "a resume counts as activity");
      assert.deepEqual(resumed.routes, [{ prefix: "/", port: 8000, stripPrefix: true }]);
      assert.deepEqual(
        events.map((e) => e.sandbox.phase).filter((phase, i, all) => phase !== all[i - 1]),
        ["Booting", "Running", "Suspending", "Suspended", "Booting", "Running"],
      );
      await call("DELETE", `/v1/sandboxes/${uid}`);
      await assert.rejects(access(checkpoint), { code: "ENOENT" });
    } finally {
      agent.manager.off("event", record);
    }
  });

  it("creates a sandbox suspended without booting it", async () => {
    const uid = randomUUID();
    const created = await call("PUT", `/v1/sandboxes/${uid}`, desired(uid, "Suspended"));
    assert.equal(created.status, 201);
    const suspended = await waitFor(uid, "Suspended");
    assert.equal(suspended.reason, "NotCheckpointed");
    assert.equal(suspended.startedAt, undefined);
    await call("DELETE", `/v1/sandboxes/${uid}`);
  });

  it("has no SSH: credentials and tunnel answer 409 saying why, and SSH off is a 404", async () => {
    const uid = randomUUID();
    await call("PUT", `/v1/sandboxes/${uid}`, { ...desired(uid), ssh: { enabled: true } });
    await waitFor(uid, "Running");
    const credentials = await call("GET", `/v1/sandboxes/${uid}/ssh/credentials`);
    assert.equal(credentials.status, 409);
    assert.equal(credentials.body.error, "SshUnavailable");
    assert.match(String(credentials.body.message), /simulated runtime/);
    const tunnel = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(
        `${agent.apiUrl.replace("http", "ws")}/v1/sandboxes/${uid}/ssh/tunnel`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      socket.once("unexpected-response", (_req, res) => {
        socket.on("error", () => {});
        socket.terminate();
        resolve(res.statusCode ?? 0);
      });
      socket.once("open", () => reject(new Error("the tunnel opened")));
      socket.once("error", reject);
    });
    assert.equal(tunnel, 409);
    const updated = await call("PUT", `/v1/sandboxes/${uid}`, desired(uid));
    assert.equal(updated.body.outcome, "updated", "SSH toggles without a reboot");
    const off = await call("GET", `/v1/sandboxes/${uid}/ssh/credentials`);
    assert.deepEqual([off.status, off.body.error], [404, "SshDisabled"]);
    await call("DELETE", `/v1/sandboxes/${uid}`);
  });

  it("keeps a warm pool through the API: events on the stream, a claim over HTTP, DELETE", async () => {
    const poolUid = randomUUID();
    // The operator's view: the event stream, parsed with the contract's schema.
    const abort = new AbortController();
    const seen: AgentEvent[] = [];
    const stream = (async () => {
      const response = await fetch(`${agent.apiUrl}/v1/events`, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      let buffer = "";
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += Buffer.from(chunk).toString("utf8");
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const line of lines.filter(Boolean)) seen.push(AgentEvent.parse(JSON.parse(line)));
      }
    })().catch(() => {});
    const poolEvent = async (what: string, match: (e: AgentEvent) => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!seen.some(match)) {
        if (Date.now() > deadline) throw new Error(`no event: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      const pool = {
        uid: poolUid,
        name: "web",
        namespace: "team-a",
        generation: 1,
        image: "not-in-any-store:simulated",
        resources: { cpus: 1, memoryMiB: 512 },
        replicas: 1,
      };
      const bad = await call("PUT", `/v1/warm-pools/${poolUid}`, { ...pool, replicas: -1 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, "InvalidWarmPool");
      assert.match(String(bad.body.message), /^replicas: /);
      const created = await call("PUT", `/v1/warm-pools/${poolUid}`, pool);
      assert.equal(created.status, 201);
      assert.equal(created.body.outcome, "created");
      await poolEvent(
        "the pool ready",
        (e) =>
          e.type === "warmPool" && e.warmPool.uid === poolUid && e.warmPool.readyReplicas === 1,
      );
      const again = await call("PUT", `/v1/warm-pools/${poolUid}`, pool);
      assert.deepEqual([again.status, again.body.outcome], [200, "unchanged"]);

      const uid = randomUUID();
      const claimed = await call("PUT", `/v1/sandboxes/${uid}`, {
        ...desired(uid),
        warmPool: { uid: poolUid },
      });
      assert.equal(claimed.status, 201);
      const sandbox = claimed.body.sandbox as ObservedSandbox;
      assert.deepEqual([sandbox.phase, sandbox.startedFrom], ["Running", "warmPool"]);
      const page = await fetch(`${agent.ingressUrl}/`, {
        headers: insecureIngressHeaders(token, uid),
      });
      assert.equal(page.status, 200, "it serves at once");
      await poolEvent(
        "the pool refilled",
        (e) =>
          e.type === "warmPool" &&
          e.warmPool.uid === poolUid &&
          e.warmPool.readyReplicas === 1 &&
          seen.indexOf(e) > seen.findIndex((s) => s.type === "sandbox" && s.sandbox.uid === uid),
      );
      // Only the claimant's sandbox events: none for warm VMs.
      const sandboxUids = new Set(
        seen.flatMap((e) => (e.type === "warmPool" ? [] : [e.sandbox.uid])),
      );
      assert.deepEqual([...sandboxUids], [uid], "no event names a warm VM");
      const listed = await call("GET", "/v1/warm-pools");
      assert.deepEqual(listed.body.items, [
        {
          uid: poolUid,
          name: "web",
          namespace: "team-a",
          generation: 1,
          desiredReplicas: 1,
          replicas: 1,
          readyReplicas: 1,
        },
      ]);

      assert.equal((await call("DELETE", `/v1/warm-pools/${poolUid}`)).status, 200);
      await poolEvent(
        "the pool deleted",
        (e) => e.type === "warmPool" && e.warmPool.uid === poolUid && e.deleted === true,
      );
      assert.equal((await call("DELETE", `/v1/warm-pools/${poolUid}`)).status, 404);
      assert.deepEqual((await call("GET", "/v1/warm-pools")).body.items, []);
      assert.equal(agent.manager.get(uid)?.phase, "Running", "a claimed VM is not the pool's");
      await call("DELETE", `/v1/sandboxes/${uid}`);
    } finally {
      abort.abort();
      await stream;
    }
  });
});
