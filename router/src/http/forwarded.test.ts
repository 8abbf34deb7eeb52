import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Cidr, parseCidr as parseAny } from "@turgon/api/net";
import { TrustedProxies } from "./forwarded.ts";

/** As `--trusted-proxies` parses its entries: an address alone is a block of one. */
const parseCidr = (text: string) => parseAny(text, { bare: true });

describe("forwarding headers", () => {
  const forged = {
    host: "web--a.localhost:18080",
    "x-forwarded-for": "6.6.6.6",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "evil.example",
    forwarded: "for=6.6.6.6",
    "x-real-ip": "6.6.6.6",
  };

  it("parses addresses and blocks", () => {
    assert.deepEqual(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", prefix: 8, family: "ipv4" });
    assert.deepEqual(parseCidr("::1"), { address: "::1", prefix: 128, family: "ipv6" });
    for (const bad of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/8/8", "host", ""])
      assert.equal(parseCidr(bad), undefined, bad);
  });

  it("from an untrusted peer: drops what the client claims and says what the router saw", () => {
    const none = new TrustedProxies([]);
    assert.deepEqual(none.forwardingHeaders(forged, "127.0.0.1", "http"), {
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "web--a.localhost:18080",
    });
    const other = new TrustedProxies([parseCidr("10.0.0.0/8") as Cidr]);
    assert.equal(other.trusts("127.0.0.1"), false);
    assert.equal(other.forwardingHeaders(forged, "127.0.0.1", "http")["x-real-ip"], undefined);
  });

  it("from a trusted proxy: keeps its headers and appends the peer", () => {
    const trusted = new TrustedProxies([parseCidr("127.0.0.1") as Cidr]);
    assert.equal(trusted.trusts("::ffff:127.0.0.1"), true, "IPv4-mapped");
    assert.deepEqual(trusted.forwardingHeaders(forged, "127.0.0.1", "http"), {
      "x-forwarded-for": "6.6.6.6, 127.0.0.1",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "evil.example",
      forwarded: "for=6.6.6.6",
      "x-real-ip": "6.6.6.6",
    });
    assert.deepEqual(trusted.forwardingHeaders({ host: "h" }, "127.0.0.1", "https"), {
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "h",
    });
  });
});
