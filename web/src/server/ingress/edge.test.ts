/**
 * The dashboard's edge facts from the edge ConfigMap, against the test
 * platform's API server, as the dashboard's own identity with the shipped
 * RBAC (web/deploy/rbac.yaml names turgon-system/turgon-edge).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { DEFAULT_EDGE, EDGE_CONFIG, type EdgeFacts } from "@turgon/api/routing/edge";
import { kubectl } from "@turgon/dev/testing";
import pino from "pino";
import { dashboardKubeConfig, eventually, installWebRbac, must } from "../kube/testing.ts";
import { EdgeUnavailableError, followEdge } from "./edge.ts";

const [NAMESPACE, NAME] = EDGE_CONFIG.split("/") as [string, string];
/** What the follower logs at error level (an invalid version), line by line. */
const errors: string[] = [];
const log = pino({ level: "error" }, { write: (line: string) => void errors.push(line) });

describe("the dashboard's edge facts", () => {
  let dir: string;
  let kc: KubeConfig;

  const writeEdge = async (data: Record<string, string>) => {
    const file = join(dir, "edge.json");
    const configMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: NAME, namespace: NAMESPACE },
      data,
    };
    await writeFile(file, JSON.stringify(configMap));
    await must(["apply", "-f", file]);
  };
  const removeEdge = () =>
    must(["delete", "configmap", NAME, "-n", NAMESPACE, "--ignore-not-found"]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-web-edge-"));
    await installWebRbac();
    kc = await dashboardKubeConfig();
    await removeEdge();
  });
  after(async () => {
    await kubectl(["delete", "configmap", NAME, "-n", NAMESPACE, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("follows the edge ConfigMap as the dashboard's identity: defaults without it, each change without a restart, the last good facts over an invalid one", async () => {
    const changes: EdgeFacts[] = [];
    // RBAC may take a moment to see a freshly applied Role.
    const edge = await eventually(
      "the dashboard's identity reads the edge ConfigMap",
      () => followEdge(kc, EDGE_CONFIG, log, (facts) => changes.push(facts)),
      () => true,
      20_000,
    );
    try {
      assert.deepEqual(edge.current(), DEFAULT_EDGE, "no ConfigMap: the router's own defaults");
      await writeEdge({ domain: "sandboxes.example.com", scheme: "https", port: "0" });
      const moved = { ...DEFAULT_EDGE, domain: "sandboxes.example.com", scheme: "https", port: 0 };
      await eventually(
        "the new facts",
        () => edge.current(),
        (f) => f.domain === moved.domain,
      );
      assert.deepEqual(edge.current(), moved);
      assert.deepEqual(changes, [moved], "the change is announced once");
      await writeEdge({ domain: "sandboxes.example.com", scheme: "ftp" });
      await eventually(
        "the invalid version logged",
        () => errors.join(""),
        (text) => /scheme: must be http or https/.test(text) && /keeping the last/.test(text),
      );
      assert.deepEqual(edge.current(), moved, "the last good facts are kept");
      await writeEdge({ domain: "sandboxes.example.com", scheme: "https", port: "8443" });
      await eventually(
        "the port moved",
        () => edge.current(),
        (f) => f.port === 8443,
      );
      assert.deepEqual(
        changes.map((f) => f.scheme),
        ["https", "https"],
        "the invalid version in between was never taken",
      );
      await removeEdge();
      await eventually(
        "the defaults again",
        () => edge.current(),
        (f) => f.domain === "localhost",
      );
      assert.deepEqual(edge.current(), DEFAULT_EDGE);
    } finally {
      edge.stop();
    }
  });

  it("refuses to start on an invalid ConfigMap or one it may not read, naming it", async () => {
    await writeEdge({ domain: "Not A Domain" });
    try {
      await assert.rejects(
        followEdge(kc, EDGE_CONFIG, log),
        (error: unknown) =>
          error instanceof EdgeUnavailableError &&
          error.message.startsWith(`TURGON_EDGE_CONFIG: ConfigMap ${EDGE_CONFIG}: domain:`),
      );
    } finally {
      await removeEdge();
    }
    // Any other ConfigMap is not the dashboard's to read.
    await assert.rejects(
      followEdge(kc, `${NAMESPACE}/another-edge`, log),
      (error: unknown) =>
        error instanceof EdgeUnavailableError &&
        /^TURGON_EDGE_CONFIG turgon-system\/another-edge cannot be read: .*turgon-web in web\/deploy\/rbac.yaml/s.test(
          error.message,
        ),
    );
  });
});
