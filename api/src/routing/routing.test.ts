import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostLabel, sandboxHostLabel } from "./index.ts";

describe("routed host names", () => {
  it("are <name>--<namespace> when that fits a DNS label", () => {
    assert.equal(sandboxHostLabel("web", "team-a"), "web--team-a");
  });

  it("get a stable, distinct short form when they do not fit in 63 characters", () => {
    const name = "a-rather-long-sandbox-name-for-the-nightly-data-pipeline";
    const label = sandboxHostLabel(name, "analytics-production");
    assert.ok(label.length <= 63, label);
    assert.match(label, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.equal(label, sandboxHostLabel(name, "analytics-production"), "stable");
    assert.notEqual(label, sandboxHostLabel(name, "analytics-staging-eu"), "distinct");
  });

  it("are read back from a Host header under the ingress domain only", () => {
    assert.equal(hostLabel("Web--Team-A.localhost:18080", "localhost"), "web--team-a");
    assert.equal(hostLabel("web--a.sbx.example.com", "sbx.example.com"), "web--a");
    assert.equal(hostLabel("web--a.evil.com", "sbx.example.com"), undefined);
    assert.equal(hostLabel("a.b.localhost", "localhost"), undefined);
    assert.equal(hostLabel(undefined, "localhost"), undefined);
  });
});
