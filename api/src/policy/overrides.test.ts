import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostCovered, relaxations } from "./overrides.ts";

const strict = {
  allowedHosts: ["*.example.com", "pypi.org"],
  deniedMethods: ["DELETE" as const, "PUT" as const],
  deniedCIDRs: ["203.0.113.0/24"],
  websockets: false,
};

describe("relaxations", () => {
  it("says what relaxes a policy and what only tightens it", () => {
    assert.deepEqual(
      relaxations(strict, { allowedHosts: ["a.example.com", "*.b.example.com"] }),
      [],
    );
    assert.deepEqual(
      relaxations(strict, { allowedHosts: ["example.com"] }).map((r) => r.field),
      ["allowedHosts[0]"],
    );
    assert.deepEqual(
      relaxations(strict, {
        deniedMethods: ["DELETE"],
        websockets: true,
        mode: "report",
        dns: { mode: "trusted" },
      }).map((r) => r.field),
      ["mode", "deniedMethods", "websockets", "dns.mode"],
    );
    assert.deepEqual(relaxations({}, { mode: "enforce", blockInternalRanges: true }), []);
    assert.deepEqual(relaxations({ mode: "report" }, { mode: "report" }), []);
  });

  it("covers a host by name or by wildcard, never the other way round", () => {
    assert.ok(hostCovered("*.example.com", "a.example.com"));
    assert.ok(hostCovered("*", "anything.test"));
    assert.ok(!hostCovered("a.example.com", "*.example.com"));
    assert.ok(!hostCovered("*.example.com", "example.com"));
  });
});
