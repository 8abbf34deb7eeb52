/**
 * A rotated agent certificate (the files rewritten, as a Secret volume
 * update does) is served without a restart: by the agent's API port, its
 * ingress port and every sandbox's front, within the watch interval. A real
 * agent in process and a real supervisor for a suspended sandbox (no VM).
 */
import assert from "node:assert/strict";
import { randomUUID, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { DesiredSandbox } from "@turgon/api/agent";
import {
  ensureAgentPki,
  eventually,
  installCrds,
  kubectl,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { type RunningAgent, startAgent } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { logger } from "../logger.ts";
import { ephemeralPortRange } from "../supervisor/ports.ts";
import { stopSupervisors, testAgentFlags } from "../testing.ts";

/** The SHA-256 fingerprint of the certificate a TLS port presents. */
async function presented(port: number): Promise<string> {
  const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  try {
    await once(socket, "secureConnect");
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

const fingerprintOf = async (file: string) =>
  new X509Certificate(await readFile(file)).fingerprint256;

describe("agent certificate rotation", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-rotation-"));
  const nodeName = uniqueName("rotation");
  let agent: RunningAgent | undefined;
  after(async () => {
    await agent?.stop();
    if (agent) await stopSupervisors(agent.stateDir);
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("serves the new certificate on the API port, the ingress port and a front within the interval", async () => {
    await installCrds();
    const pki = await ensureAgentPki(join(dir, "pki"), nodeName);
    const next = await ensureAgentPki(join(dir, "pki"), `${nodeName}-next`);
    const config = loadConfig(
      testAgentFlags(join(dir, "agent"), nodeName, testEnvironment().redisUrl, {}, pki),
    );
    agent = await startAgent(config, logger.child({ test: "rotation" }, { level: "silent" }), {
      tlsWatchIntervalMs: 100,
    });
    const uid = randomUUID();
    const { sandbox } = await agent.manager.put(
      DesiredSandbox.parse({
        uid,
        name: "rotation",
        namespace: "team-a",
        generation: 1,
        image: "img:test",
        resources: { cpus: 1, memoryMiB: 256 },
        operatingMode: "Suspended",
      }),
    );
    assert.ok(sandbox.frontPort, JSON.stringify(sandbox));
    const ports = {
      api: Number(new URL(agent.apiUrl).port),
      ingress: Number(new URL(agent.ingressUrl).port),
      front: sandbox.frontPort,
    };
    const all = async () => ({
      api: await presented(ports.api),
      ingress: await presented(ports.ingress),
      front: await presented(ports.front),
    });
    const before = await fingerprintOf(pki.agent.cert);
    assert.deepEqual(await all(), { api: before, ingress: before, front: before });

    // The SandboxNode advertises the fronts' range (ephemeral here: the kernel's).
    const node = JSON.parse(
      (await kubectl(["get", "sandboxnode", nodeName, "-o", "json"])).stdout,
    ) as {
      spec: { frontPorts?: unknown };
    };
    assert.deepEqual(node.spec.frontPorts, ephemeralPortRange());

    await copyFile(next.agent.key, pki.agent.key);
    await copyFile(next.agent.cert, pki.agent.cert);
    const after = await fingerprintOf(pki.agent.cert);
    assert.notEqual(after, before);
    await eventually(
      "every port presents the new certificate",
      all,
      (seen) => seen.api === after && seen.ingress === after && seen.front === after,
      5_000,
      50,
    );
  });
});
