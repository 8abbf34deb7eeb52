/** Route readiness against a stand-in gateway (a loopback HTTP server): how soon a starting app is Ready. */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import type { IngressAccess } from "@earendil-works/gondolin";
import { RouteReadiness } from "./readiness.ts";

describe("route readiness", () => {
  it("probes a starting sandbox soon again: an app up in a fraction of a second is Ready then", async () => {
    // The gateway answers 502 (nothing on the guest port) to the first probe's GET and
    // WebSocket handshake, then serves.
    let probes = 0;
    const server = createServer((_req, res) => {
      probes++;
      res.writeHead(probes <= 2 ? 502 : 200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const gateway = {
      host: "127.0.0.1",
      port,
      url: `http://127.0.0.1:${port}`,
      close: async () => {},
    } as IngressAccess;
    const started = performance.now();
    let readyAfterMs: number | undefined;
    const readiness: RouteReadiness = new RouteReadiness({
      gateway,
      routes: () => [{ prefix: "/", port: 8000, stripPrefix: true }],
      probes: () => [],
      onChange: () => {
        if (readiness.current().ready) readyAfterMs = performance.now() - started;
      },
    });
    try {
      readiness.start();
      const deadline = Date.now() + 10_000;
      while (readyAfterMs === undefined && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(readyAfterMs !== undefined, "Ready once the app serves");
      // The second probe comes 100 ms after the first (it came 2 s after before).
      assert.ok(readyAfterMs < 1_500, `Ready ${readyAfterMs.toFixed(0)} ms after the start`);
      assert.equal(probes, 3);
    } finally {
      readiness.stop();
      server.close();
    }
  });
});
