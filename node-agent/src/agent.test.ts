/**
 * The node agent against the real API server and real VMs: registration and
 * heartbeat, the sandbox lifecycle through the agent API and ingress port,
 * and bad input refused without side effects.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SANDBOX_HEADER } from "@turgon/api/agent";
import { installCrds, kubectl, testEnvironment, uniqueName } from "@turgon/dev/testing";
import { type RunningAgent, startAgent } from "./agent.ts";
import { loadConfig } from "./config/config.ts";
import { logger } from "./logger.ts";

describe("node agent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("node");
  let agent: RunningAgent;

  const call = (method: string, path: string, body?: unknown, bearer = token) =>
    fetch(`${agent.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const quickStart = (uid: string) => ({
    uid,
    name: "quickstart",
    namespace: "team-a",
    generation: 1,
    image: testEnvironment().guestImage,
    resources: { cpus: 1, memoryMiB: 512 },
    command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/etc"],
    ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
  });

  before(async () => {
    await installCrds();
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    const config = loadConfig([
      "--node-name",
      nodeName,
      "--api-port",
      "0",
      "--ingress-port",
      "0",
      "--token-file",
      join(dir, "token"),
      "--kubeconfig",
      testEnvironment().kubeconfig,
      "--heartbeat-seconds",
      "1",
      "--cpus",
      "2",
      "--memory-mib",
      "2048",
      "--max-vms",
      "4",
    ]);
    agent = await startAgent(config, logger.child({ test: "agent" }, { level: "warn" }));
  });

  after(async () => {
    await agent?.stop();
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("registers its SandboxNode and keeps the heartbeat fresh", async () => {
    const listed = await kubectl(["get", "sandboxnodes", nodeName]);
    assert.equal(listed.exitCode, 0, listed.tail);
    assert.match(
      listed.stdout,
      new RegExp(
        `^NAME\\s+READY\\s+ADDRESS\\s+ACCELERATOR\\s+HEARTBEAT\\s+AGE\\n${nodeName}\\s+True\\s+${agent.apiUrl.replaceAll(".", "\\.")}`,
      ),
    );
    const heartbeat = async () =>
      (
        await kubectl([
          "get",
          "sandboxnode",
          nodeName,
          "-o",
          "jsonpath={.status.lastHeartbeatTime}",
        ])
      ).stdout;
    const first = await heartbeat();
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    assert.ok((await heartbeat()) > first, "lastHeartbeatTime advanced");
  });

  it("runs the ingress quick start: PUT, serve through the ingress port, PUT again is a no-op, DELETE stops QEMU", async () => {
    const uid = randomUUID();
    const created = await call("PUT", `/v1/sandboxes/${uid}`, quickStart(uid));
    assert.equal(created.status, 201, await created.clone().text());
    assert.equal(((await created.json()) as { outcome: string }).outcome, "created");

    const deadline = Date.now() + 120_000;
    let page: Response | undefined;
    while (Date.now() < deadline) {
      page = await fetch(`${agent.ingressUrl}/`, { headers: { [SANDBOX_HEADER]: uid } });
      if (page.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(page?.status, 200);
    assert.match(await (page as Response).text(), /Directory listing for \//);

    const observed = (await (await call("GET", `/v1/sandboxes/${uid}`)).json()) as {
      phase: string;
      routes: unknown[];
    };
    assert.equal(observed.phase, "Running");
    assert.deepEqual(observed.routes, [{ prefix: "/", port: 8000, stripPrefix: true }]);

    const again = await call("PUT", `/v1/sandboxes/${uid}`, quickStart(uid));
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { outcome: string }).outcome, "unchanged");

    const pid = agent.manager.get(uid)?.hostPid();
    assert.ok(pid, "the VM has a QEMU process");
    const deleted = await call("DELETE", `/v1/sandboxes/${uid}`);
    assert.equal(deleted.status, 200);
    await assert.rejects(access(`/proc/${pid}`), { code: "ENOENT" }, "the QEMU process is gone");
    assert.equal((await call("GET", `/v1/sandboxes/${uid}`)).status, 404);
    const gone = await fetch(`${agent.ingressUrl}/`, { headers: { [SANDBOX_HEADER]: uid } });
    assert.equal(gone.status, 404);
  });

  it("refuses bad input with a 4xx naming the field, and applies none of it", async () => {
    const uid = randomUUID();
    const cases: [unknown, RegExp][] = [
      [{ ...quickStart(uid), colour: "blue" }, /\(body\): unknown field\(s\) colour|colour/],
      [{ ...quickStart(uid), resources: { cpus: 1, memoryMiB: -512 } }, /resources\.memoryMiB/],
      [
        { ...quickStart(uid), ingress: { routes: [{ prefix: "api", port: 9000 }] } },
        /ingress\.routes\[0\]\.prefix: must start with '\/'/,
      ],
      [{ ...quickStart(uid), uid: randomUUID() }, /uid: .* does not match/],
    ];
    for (const [body, field] of cases) {
      const response = await call("PUT", `/v1/sandboxes/${uid}`, body);
      assert.equal(response.status, 400);
      const error = (await response.json()) as { message: string };
      assert.match(error.message, field);
    }
    assert.equal((await call("PUT", "/v1/sandboxes/not-a-uid", quickStart(uid))).status, 400);
    const list = (await (await call("GET", "/v1/sandboxes")).json()) as { items: unknown[] };
    assert.deepEqual(list.items, [], "nothing was half-applied");
  });

  it("refuses requests without the right bearer token", async () => {
    assert.equal(
      (await call("GET", "/v1/sandboxes", undefined, "wrong-token-wrong-token")).status,
      401,
    );
    assert.equal((await fetch(`${agent.apiUrl}/v1/sandboxes`)).status, 401);
    assert.equal((await fetch(`${agent.apiUrl}/healthz`)).status, 200);
  });
});
