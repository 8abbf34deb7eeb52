import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import {
  installForwardedForGuard,
  parseTrustedProxies,
  TrustedProxiesError,
} from "./forwarded-for.ts";

/** What a handler behind the guard sees as X-Forwarded-For for one request. */
async function seenForwardedFor(headers: Record<string, string>): Promise<string | undefined> {
  const server = createServer((req, res) => {
    res.end(JSON.stringify({ xff: req.headers["x-forwarded-for"] ?? null }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, headers }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(text));
      });
      req.once("error", reject);
      req.end();
    });
    return (JSON.parse(body) as { xff: string | null }).xff ?? undefined;
  } finally {
    server.close();
  }
}

describe("the X-Forwarded-For guard", () => {
  it("replaces a forged X-Forwarded-For from an untrusted peer with the peer's address", async () => {
    const stop = installForwardedForGuard([]);
    try {
      assert.equal(await seenForwardedFor({ "x-forwarded-for": "203.0.113.9" }), "127.0.0.1");
      assert.equal(
        await seenForwardedFor({ "x-forwarded-for": "198.51.100.1, 203.0.113.9" }),
        "127.0.0.1",
      );
      assert.equal(await seenForwardedFor({}), "127.0.0.1", "and fills it in when absent");
    } finally {
      stop();
    }
  });

  it("keeps the chain a trusted proxy sends", async () => {
    const stop = installForwardedForGuard(["127.0.0.0/8"]);
    try {
      assert.equal(
        await seenForwardedFor({ "x-forwarded-for": "198.51.100.1, 203.0.113.9" }),
        "198.51.100.1, 203.0.113.9",
      );
    } finally {
      stop();
    }
  });

  it("reads TURGON_TRUSTED_PROXIES as addresses or CIDRs, naming a bad entry", () => {
    assert.deepEqual(parseTrustedProxies(undefined), []);
    assert.deepEqual(parseTrustedProxies(" 10.0.0.0/8, 127.0.0.1 ,fd00::/8"), [
      "10.0.0.0/8",
      "127.0.0.1",
      "fd00::/8",
    ]);
    assert.throws(
      () => parseTrustedProxies("10.0.0.0/8,proxy.internal"),
      (error: unknown) =>
        error instanceof TrustedProxiesError &&
        /TURGON_TRUSTED_PROXIES: "proxy.internal"/.test(error.message),
    );
  });
});
