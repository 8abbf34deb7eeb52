/**
 * Warm pools end to end (issue 16, item 1): the node agent in QEMU mode,
 * the operator and the router as real processes, the real API server, real
 * VMs under TCG. A SandboxWarmPool of 2 is applied with kubectl; a Sandbox
 * from its template is Ready without a boot and serves through the router
 * with its own env and (as a placeholder) its secret; a second claimant
 * sees nothing of the first; the pool refills. One agent, one pool: the
 * boots are the pool's own and its refills.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ObservedSandbox } from "@turgon/api/agent";
import type { Sandbox, SandboxWarmPool } from "@turgon/api/crd";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { eventually, type Stack, startStack } from "./testing.ts";

const SECRET_VALUE = "warm-secret-value-7d1f";
const POOL_SIZE = 2;

describe("SandboxWarmPool with a real agent and VMs", () => {
  let stack: Stack;
  const namespace = uniqueName("warm");

  const json = async <T>(args: string[]): Promise<T> => {
    const result = await kubectl([...args, "-n", namespace, "-o", "json"]);
    assert.equal(result.exitCode, 0, result.tail);
    return JSON.parse(result.stdout) as T;
  };
  const apply = async (object: { kind: string; metadata: { name: string } }) => {
    const file = join(stack.dir, `${object.kind}-${object.metadata.name}.json`);
    await writeFile(file, JSON.stringify(object));
    const result = await kubectl(["apply", "-f", file]);
    assert.equal(result.exitCode, 0, result.tail);
  };
  const getPool = () => json<SandboxWarmPool>(["get", "sandboxwarmpool", "web"]);
  const getSandbox = (name: string) => json<Sandbox>(["get", "sandbox", name]);
  const ready = (s: Sandbox) =>
    s.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  const observed = async (uid: string) =>
    (await stack.agentCall(`/v1/sandboxes/${uid}`)).json as ObservedSandbox;
  const guest = async (uid: string, script: string) => {
    const result = await stack.guestExec(uid, ["/bin/sh", "-c", script]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout.trim();
  };
  /** The router's answer for a sandbox's routed host, on its real port. */
  const viaRouter = (name: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: stack.routerPort,
          path: "/",
          headers: { host: `${name}--${namespace}.localhost:${stack.routerPort}` },
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.setTimeout(30_000, () => req.destroy(new Error("request timed out")));
      req.end();
    });
  const sandbox = (name: string, greeting: string) => ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace, labels: stack.labels },
    spec: {
      templateRef: { name: "python-web" },
      env: [{ name: "GREETING", value: greeting }],
      network: {
        secrets: [
          {
            name: "API_TOKEN",
            hosts: ["api.example.com"],
            secretKeyRef: { name: "api-token", key: "token" },
          },
        ],
      },
    },
  });
  /** Applies a sandbox and waits until it is Ready; how long that took, from the client's side. */
  const claim = async (name: string, greeting: string) => {
    const started = performance.now();
    await apply(sandbox(name, greeting));
    const claimed = await eventually(`${name} Ready`, () => getSandbox(name), ready, 120_000);
    return { sandbox: claimed, ms: performance.now() - started };
  };
  const poolFilled = () =>
    eventually(
      `the pool to hold ${POOL_SIZE} ready warm VMs`,
      getPool,
      (p) =>
        p.status?.readyReplicas === POOL_SIZE &&
        p.status?.conditions?.find((c) => c.type === "Ready")?.status === "True",
      300_000,
      500,
    );

  before(async () => {
    stack = await startStack();
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "api-token", namespace, labels: { "turgon.dev/injectable": "true" } },
      stringData: { token: SECRET_VALUE },
    } as never);
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxTemplate",
      metadata: { name: "python-web", namespace },
      spec: {
        image: "debian-python:latest",
        resources: { cpus: 1, memory: "512Mi" },
        command: [
          "/bin/sh",
          "-c",
          'mkdir -p /tmp/www && echo "hello $GREETING" > /tmp/www/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /tmp/www',
        ],
        ingress: { enabled: true, access: "public", routes: [{ prefix: "/", port: 8000 }] },
      },
    } as never);
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxWarmPool",
      metadata: { name: "web", namespace, labels: stack.labels },
      spec: { templateRef: { name: "python-web" }, replicas: POOL_SIZE },
    } as never);
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await stack?.stop();
  });

  it("fills the pool; kubectl get sandboxwarmpools shows ready of desired", async () => {
    const pool = await poolFilled();
    assert.equal(pool.status?.replicas, POOL_SIZE);
    assert.equal(pool.status?.observedGeneration, pool.metadata.generation);
    const table = await kubectl(["get", "sandboxwarmpools", "-n", namespace]);
    assert.equal(table.exitCode, 0, table.tail);
    assert.match(
      table.stdout,
      new RegExp(`\\nweb\\s+python-web\\s+${POOL_SIZE}\\s+${POOL_SIZE}\\s`),
    );
  });

  let firstUid = "";
  it("a Sandbox from the template claims a warm VM: Ready without a boot, serving, with its env and a secret placeholder", async () => {
    await poolFilled();
    const { sandbox: first, ms } = await claim("first", "from-the-first");
    firstUid = first.metadata.uid as string;
    console.log(
      `warm claim: apply → Ready in ${Math.round(ms)} ms (client-side, kubectl included)`,
    );
    assert.equal((await observed(firstUid)).startedFrom, "warmPool");
    assert.match(
      String(first.status?.conditions?.find((c) => c.type === "Ready")?.message),
      /claimed from a warm pool/,
    );
    const events = await json<{ items: { reason: string; message: string }[] }>([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=first",
    ]);
    assert.ok(
      events.items.some(
        (e) => e.reason === "ClaimedWarmVM" && e.message.includes("of SandboxWarmPool web"),
      ),
      JSON.stringify(events.items.map((e) => [e.reason, e.message])),
    );
    assert.ok(!events.items.some((e) => e.reason === "Rebooting"));

    const served = await eventually(
      "the app to answer through the router",
      () => viaRouter("first"),
      (answer) => answer.status === 200,
      60_000,
    );
    assert.equal(served.body.trim(), "hello from-the-first");
    assert.equal(await guest(firstUid, "echo $GREETING"), "from-the-first");
    const placeholder = await guest(firstUid, "echo $API_TOKEN");
    assert.ok(placeholder.length > 0, "the guest has a placeholder for the secret");
    assert.notEqual(placeholder, SECRET_VALUE);
    assert.equal(
      await guest(firstUid, `grep -rs ${SECRET_VALUE} /proc/*/environ /tmp || true`),
      "",
    );
    for (const process of [stack.operator, stack.agent]) {
      assert.deepEqual(
        process.lines.filter((line) => line.includes(SECRET_VALUE)),
        [],
        "no log holds the secret value",
      );
    }
  });

  it("a second claimant sees nothing of a deleted first one, and the pool refills", async () => {
    assert.ok(firstUid, "runs after the first claim");
    await guest(
      firstUid,
      "echo left-behind > /root/marker && echo left-behind > /tmp/marker && sync",
    );
    assert.equal((await kubectl(["delete", "sandbox", "first", "-n", namespace])).exitCode, 0);
    // The pool was refilled after the first claim (or still is): the second claim takes a fresh VM.
    await poolFilled();
    const { sandbox: second } = await claim("second", "from-the-second");
    const secondUid = second.metadata.uid as string;
    assert.equal((await observed(secondUid)).startedFrom, "warmPool");
    assert.equal(await guest(secondUid, "cat /root/marker /tmp/marker 2>/dev/null || true"), "");
    // No process of the first claimant: none has its env (the pattern is split so this shell's own line does not match).
    assert.equal(
      await guest(secondUid, 'p=from-the; grep -ls "$p-first" /proc/[0-9]*/environ || true'),
      "",
    );
    assert.equal(await guest(secondUid, "echo $GREETING"), "from-the-second");
    const served = await eventually(
      "the second app through the router",
      () => viaRouter("second"),
      (answer) => answer.status === 200,
      60_000,
    );
    assert.equal(served.body.trim(), "hello from-the-second");
    await poolFilled();
  });

  it("a Sandbox that changes the boot shape boots cold beside the pool", async () => {
    const cold = sandbox("cold", "cold");
    (cold.spec as Record<string, unknown>).resources = { memory: "640Mi" };
    await apply(cold);
    const booted = await eventually("cold Ready", () => getSandbox("cold"), ready, 180_000);
    assert.equal((await observed(booted.metadata.uid as string)).startedFrom, "boot");
  });

  it("a pool whose template does not exist says so, naming the field, and boots nothing; a pool outside the operator's selector is left alone", async () => {
    // Another operator's (a shard's, or another test's): applied first, so its watch event comes first.
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxWarmPool",
      metadata: { name: "not-ours", namespace },
      spec: { templateRef: { name: "python-web" }, replicas: 1 },
    } as never);
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxWarmPool",
      metadata: { name: "orphan", namespace, labels: stack.labels },
      spec: { templateRef: { name: "no-such-template" }, replicas: 1 },
    } as never);
    const pool = await eventually(
      "the orphan pool's status",
      () => json<SandboxWarmPool>(["get", "sandboxwarmpool", "orphan"]),
      (p) => p.status?.conditions?.some((c) => c.reason === "TemplateNotFound") === true,
      60_000,
    );
    assert.match(
      String(pool.status?.conditions?.find((c) => c.type === "Ready")?.message),
      /spec\.templateRef\.name: SandboxTemplate "no-such-template" does not exist/,
    );
    assert.equal(pool.status?.readyReplicas, 0);
    const events = await json<{ items: { reason: string }[] }>([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=orphan",
    ]);
    assert.ok(events.items.some((e) => e.reason === "TemplateNotFound"));
    const held = (await stack.agentCall("/v1/warm-pools")).json as { items: { uid: string }[] };
    assert.ok(!held.items.some((p) => p.uid === pool.metadata.uid));
    const notOurs = await json<SandboxWarmPool>(["get", "sandboxwarmpool", "not-ours"]);
    assert.equal(notOurs.status, undefined, "no status written by this operator");
    assert.equal(notOurs.metadata.finalizers, undefined, "no finalizer added");
    assert.ok(!held.items.some((p) => p.uid === notOurs.metadata.uid), "nothing booted for it");
  });

  it("deleting the pool stops its warm VMs", async () => {
    assert.equal(
      (await kubectl(["delete", "sandboxwarmpool", "web", "-n", namespace])).exitCode,
      0,
    );
    await eventually(
      "the agent to hold no warm VM of the pool",
      async () => ((await stack.agentCall("/v1/warm-pools")).json as { items: unknown[] }).items,
      (items) => items.length === 0,
      60_000,
    );
  });
});
