/**
 * One source for the edge's public facts: the stack's edge ConfigMap. The
 * operator writes each sandbox's URL and SSH command from it and follows a
 * change without a restart; the router serves the domain it names. A node
 * agent with the simulated runtime (no VM), the operator and the router as
 * real processes against the test platform's API server.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Sandbox } from "@turgon/api/crd";
import { kubectl, testEnvironment, uniqueName } from "@turgon/dev/testing";
import { eventually, type Stack, startStack } from "./testing.ts";

describe("the edge ConfigMap", () => {
  let stack: Stack;
  const namespace = uniqueName("edge");
  const domain = "sandboxes.edge.test";

  const getSandbox = async (name: string) => {
    const got = await kubectl(["get", "sandbox", name, "-n", namespace, "-o", "json"]);
    assert.equal(got.exitCode, 0, got.tail);
    return JSON.parse(got.stdout) as Sandbox;
  };
  /** The router's answer to a request for `host`, on its real port. */
  const ask = (host: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: stack.routerPort, path: "/", headers: { host } },
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

  before(async () => {
    stack = await startStack({ agentFlags: { runtime: "simulated" }, edge: { domain } });
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    const sandbox = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "web", namespace, labels: stack.labels },
      spec: {
        image: testEnvironment().guestImage,
        ingress: { enabled: true, access: "private" },
        ssh: { enabled: true },
      },
    };
    await writeFile(join(stack.dir, "web.json"), JSON.stringify(sandbox));
    const applied = await kubectl(["apply", "-f", join(stack.dir, "web.json")]);
    assert.equal(applied.exitCode, 0, applied.tail);
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await stack?.stop();
  });

  it("status.ingress.url and status.ssh.command state the router's real ports under its domain", async () => {
    const sandbox = await eventually(
      "the sandbox's URL",
      () => getSandbox("web"),
      (s) => s.status?.ingress?.url !== undefined && s.status?.ssh?.command !== undefined,
      120_000,
    );
    assert.equal(
      sandbox.status?.ingress?.url,
      `http://web--${namespace}.${domain}:${stack.routerPort}/`,
    );
    assert.equal(
      sandbox.status?.ssh?.command,
      `ssh -p ${stack.ssh.port} web.${namespace}@localhost`,
    );
  });

  it("the router serves the ConfigMap's domain, and no other", async () => {
    await eventually(
      "the router to know the sandbox",
      () => ask(`web--${namespace}.${domain}:${stack.routerPort}`),
      // Private: a browser without a cookie is sent to sign in; the host itself is the router's.
      (answer) => answer.status === 302 || answer.status === 303,
      60_000,
    );
    const elsewhere = await ask(`web--${namespace}.localhost:${stack.routerPort}`);
    assert.equal(elsewhere.status, 404);
    assert.match(elsewhere.body, new RegExp(`is not under ${domain.replaceAll(".", "\\.")}`));
  });

  it("a change of the ConfigMap re-renders the URL and the SSH command without a restart", async () => {
    const operatorPid = stack.operator.child.pid;
    await stack.edge.set({
      domain: "moved.edge.test",
      scheme: "https",
      port: 443,
      sshHost: "ssh.edge.test",
      sshPort: 22,
    });
    const moved = await eventually(
      "the sandbox's URL to follow the ConfigMap",
      () => getSandbox("web"),
      (s) => s.status?.ingress?.url === `https://web--${namespace}.moved.edge.test/`,
      60_000,
    );
    assert.equal(moved.status?.ssh?.command, `ssh web.${namespace}@ssh.edge.test`);
    assert.equal(stack.operator.child.exitCode, null, "the operator did not restart");
    assert.equal(stack.operator.child.pid, operatorPid);
  });

  it("SIGTERM stops the router and the operator gracefully: exit 0 (the daemon scaffold)", async () => {
    for (const daemon of [stack.router, stack.operator]) {
      await daemon.stop();
      assert.deepEqual([daemon.child.exitCode, daemon.child.signalCode], [0, null]);
      assert.ok(daemon.lines.some((line) => line.includes('"msg":"shutting down')));
    }
  });
});
