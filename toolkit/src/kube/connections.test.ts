import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { testEnvironment, testKubeConfig } from "@turgon/dev/testing";
import { loadKubeConfig } from "../daemon/kubeconfig.ts";
import { shareConnections } from "./connections.ts";

/** How many new connections (TCP + TLS) undici opens while `run` runs. */
async function connectionsDuring(run: () => Promise<unknown>): Promise<number> {
  let connections = 0;
  const count = () => {
    connections += 1;
  };
  subscribe("undici:client:connected", count);
  try {
    await run();
  } finally {
    unsubscribe("undici:client:connected", count);
  }
  return connections;
}

describe("shareConnections on the real API server", () => {
  it("sends every call of every client over one kept-alive connection", async () => {
    const kc = shareConnections(testKubeConfig());
    const core = kc.makeApiClient(CoreV1Api);
    const other = kc.makeApiClient(CoreV1Api);
    const connections = await connectionsDuring(async () => {
      for (let i = 0; i < 5; i++) {
        await core.listNamespace({ limit: 1 });
        await other.readNamespace({ name: "default" });
      }
    });
    assert.equal(connections, 1, "ten sequential calls, one connection");
  });

  it("is what the daemons' loadKubeConfig gives them", async () => {
    const core = loadKubeConfig({ file: testEnvironment().kubeconfig }).makeApiClient(CoreV1Api);
    const connections = await connectionsDuring(async () => {
      for (let i = 0; i < 4; i++) await core.readNamespace({ name: "default" });
    });
    assert.equal(connections, 1, "four sequential calls, one connection");
  });

  it("opens more connections for concurrent calls, and reuses them afterwards", async () => {
    const core = shareConnections(testKubeConfig()).makeApiClient(CoreV1Api);
    const burst = () =>
      Promise.all(Array.from({ length: 4 }, () => core.readNamespace({ name: "default" })));
    const first = await connectionsDuring(burst);
    assert.ok(first >= 1 && first <= 4, `${first} connections for 4 concurrent calls`);
    assert.equal(await connectionsDuring(burst), 0, "the second burst reuses them");
  });
});
