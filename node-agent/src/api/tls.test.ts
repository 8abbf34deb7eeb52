import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  installCrds,
  kubectl,
  testEnvironment,
  testServingCertificate,
  uniqueName,
} from "@turgon/dev/testing";
import { type RunningAgent, startAgent } from "../agent.ts";
import { ConfigError, loadConfig } from "../config/config.ts";
import { logger } from "../logger.ts";
import { testAgentFlags } from "../testing.ts";

function get(url: string, ca: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("agent API over TLS", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-tls-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("tls");
  let agent: RunningAgent;
  let ca = "";

  before(async () => {
    await installCrds();
    const serving = await testServingCertificate("node-agent");
    ca = serving.ca;
    await writeFile(join(dir, "token"), token);
    await writeFile(join(dir, "tls.crt"), serving.cert);
    await writeFile(join(dir, "tls.key"), serving.key, { mode: 0o600 });
    const config = loadConfig(
      testAgentFlags(dir, nodeName, testEnvironment().redisUrl, {
        "tls-cert-file": join(dir, "tls.crt"),
        "tls-key-file": join(dir, "tls.key"),
      }),
    );
    agent = await startAgent(config, logger.child({}, { level: "warn" }));
  });
  after(async () => {
    await agent?.stop();
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("serves https, advertises it in the SandboxNode, and still demands the token", async () => {
    assert.match(agent.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await get(`${agent.apiUrl}/healthz`, ca), 200);
    assert.equal(await get(`${agent.apiUrl}/v1/sandboxes`, ca), 401);
    assert.equal(await get(`${agent.apiUrl}/v1/sandboxes`, ca, token), 200);
    const address = await kubectl([
      "get",
      "sandboxnode",
      nodeName,
      "-o",
      "jsonpath={.spec.address}",
    ]);
    assert.equal(address.stdout, agent.apiUrl);
  });

  it("wants the certificate and key together", () => {
    assert.throws(
      () => loadConfig(["--node-name", "n", "--token-file", "/t", "--tls-cert-file", "/c.pem"], {}),
      (error: unknown) =>
        error instanceof ConfigError && /--tls-key-file .*go together/.test(error.message),
    );
  });
});
