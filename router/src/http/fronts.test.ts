/**
 * Which front failures fall back to the agent's port, which requests can be
 * sent again, and how long a front stays marked down (on a hand-moved
 * clock). The same paths through real servers are in proxy.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ProxyFailure, ResponseRefused, UpstreamTimeout } from "@turgon/toolkit/http-proxy";
import {
  FrontHealth,
  frontFallbackReason,
  mayHaveReachedGuest,
  replayableMethod,
  withoutBody,
} from "./fronts.ts";

/** A failure as the shared proxy reports it. */
function failure(error: Error, reason: ProxyFailure["reason"] = "UpstreamFailed"): ProxyFailure {
  return { status: 502, reason, message: error.message, error };
}

function withCode(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe("frontFallbackReason", () => {
  it("falls back on connect-phase failures and a 421", () => {
    assert.equal(frontFallbackReason(failure(withCode("ECONNREFUSED")), true), "refused");
    for (const code of ["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"])
      assert.equal(frontFallbackReason(failure(withCode(code)), true), "unreachable", code);
    // What http-proxy-3's connect timer destroys the socket with.
    assert.equal(
      frontFallbackReason(failure(withCode("ECONNECT_TIMEOUT"), "UpstreamTimeout"), true),
      "connect-timeout",
    );
    assert.equal(
      frontFallbackReason(failure(new UpstreamTimeout("connect", 100), "UpstreamTimeout"), true),
      "connect-timeout",
    );
    assert.equal(
      frontFallbackReason(failure(new ResponseRefused(421), "ResponseRefused"), true),
      "misdirected",
    );
  });

  it("falls back on a reset or a kernel timeout only before the front's head", () => {
    for (const code of ["ECONNRESET", "EPIPE"]) {
      assert.equal(frontFallbackReason(failure(withCode(code)), true), "reset", code);
      assert.equal(frontFallbackReason(failure(withCode(code)), false), undefined, code);
    }
    assert.equal(frontFallbackReason(failure(withCode("ETIMEDOUT")), true), "timed-out");
    assert.equal(frontFallbackReason(failure(withCode("ETIMEDOUT")), false), undefined);
  });

  it("falls back on a TLS handshake the router refuses or the front breaks off", () => {
    for (const code of [
      "ERR_TLS_CERT_ALTNAME_INVALID",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "CERT_HAS_EXPIRED",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
      "ERR_SSL_WRONG_VERSION_NUMBER",
    ])
      assert.equal(frontFallbackReason(failure(withCode(code)), true), "tls", code);
  });

  it("sends again after a reset or a timeout only what may be sent twice", () => {
    for (const reason of ["reset", "timed-out"] as const) assert.ok(mayHaveReachedGuest(reason));
    for (const reason of [
      "refused",
      "unreachable",
      "connect-timeout",
      "tls",
      "misdirected",
    ] as const)
      assert.ok(!mayHaveReachedGuest(reason), reason);
    for (const method of ["GET", "HEAD", "OPTIONS"]) assert.ok(replayableMethod(method), method);
    for (const method of ["POST", "PUT", "DELETE", "PATCH", undefined])
      assert.ok(!replayableMethod(method), String(method));
  });

  it("does not fall back once the front was reached and failed otherwise", () => {
    assert.equal(
      frontFallbackReason(failure(new UpstreamTimeout("headers", 100), "UpstreamTimeout"), true),
      undefined,
    );
    assert.equal(frontFallbackReason(failure(withCode("EPROTO")), true), undefined);
    assert.equal(frontFallbackReason(failure(new Error("no code")), true), undefined);
  });
});

describe("withoutBody", () => {
  it("holds for no Content-Length or 0, and no Transfer-Encoding", () => {
    assert.equal(withoutBody({}), true);
    assert.equal(withoutBody({ "content-length": "0" }), true);
    assert.equal(withoutBody({ "content-length": "12" }), false);
    assert.equal(withoutBody({ "transfer-encoding": "chunked" }), false);
    assert.equal(withoutBody({ "content-length": "0", "transfer-encoding": "chunked" }), false);
  });
});

describe("FrontHealth", () => {
  const clock = () => {
    let now = 0;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it("keeps a front down for its interval, then tries it again", () => {
    const time = clock();
    const health = new FrontHealth({ now: time.now, downForMs: 5_000 });
    assert.equal(health.isDown("u1", "https://n:41000"), false);
    assert.equal(health.markDown("u1", "https://n:41000"), true, "newly down");
    assert.equal(health.markDown("u1", "https://n:41000"), false, "already down: not told again");
    time.advance(4_999);
    assert.equal(health.isDown("u1", "https://n:41000"), true);
    time.advance(1);
    assert.equal(health.isDown("u1", "https://n:41000"), false);
    assert.equal(health.markDown("u1", "https://n:41000"), true, "down again after it was up");
  });

  it("keys by sandbox and front: another sandbox, or a new front port, is trusted at once", () => {
    const health = new FrontHealth({ now: clock().now });
    health.markDown("u1", "https://n:41000");
    assert.equal(health.isDown("u2", "https://n:41000"), false);
    assert.equal(health.isDown("u1", "https://n:41001"), false);
  });

  it("forgets fronts whose interval is up", () => {
    const time = clock();
    const health = new FrontHealth({ now: time.now, downForMs: 10 });
    for (let i = 0; i < 50; i++) health.markDown(`u${i}`, "https://n:41000");
    assert.equal(health.size, 50);
    time.advance(10);
    assert.equal(health.size, 0);
  });
});
