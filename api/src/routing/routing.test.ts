import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJwt } from "jose";
import {
  EXEC_TOKEN_AUDIENCE,
  ExecTokenClaims,
  hostLabel,
  mintExecToken,
  namespaceTeam,
  sandboxHostLabel,
  TEAM_LABEL,
} from "./index.ts";

describe("a namespace's team", () => {
  it("is its turgon.dev/team label, else its name (also when the label is empty)", () => {
    assert.equal(
      namespaceTeam("ml", { metadata: { labels: { [TEAM_LABEL]: "research" } } }),
      "research",
    );
    assert.equal(namespaceTeam("ml", { metadata: { labels: { other: "x" } } }), "ml");
    assert.equal(namespaceTeam("ml", { metadata: { labels: { [TEAM_LABEL]: "" } } }), "ml");
    assert.equal(namespaceTeam("ml"), "ml", "a namespace not (yet) known");
  });
});

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

  it("keep 80 bits of hash in the short form", () => {
    const label = sandboxHostLabel("n".repeat(40), "s".repeat(40));
    assert.match(label, /-[0-9a-f]{20}$/, label);
  });

  it("have no `--` in the short form, so no namespace can be named to equal one", () => {
    // Before: the short form of (a*20, b*50) was a*20--b*20-<hash>, which is also the
    // full form of sandbox a*20 in a namespace named b*20-<hash>.
    const name = "a".repeat(20);
    const long = sandboxHostLabel(name, "b".repeat(50));
    assert.ok(!long.includes("--"), long);
    assert.notEqual(sandboxHostLabel(name, long.slice(name.length + 1)), long);
    // Dashes inside names and namespaces are folded too.
    const dashed = sandboxHostLabel("x".repeat(30), `a--b--${"c".repeat(40)}`);
    assert.ok(!dashed.includes("--"), dashed);
  });

  it("are read back from a Host header under the ingress domain only", () => {
    assert.equal(hostLabel("Web--Team-A.localhost:18080", "localhost"), "web--team-a");
    assert.equal(hostLabel("web--a.sbx.example.com", "sbx.example.com"), "web--a");
    assert.equal(hostLabel("web--a.evil.com", "sbx.example.com"), undefined);
    assert.equal(hostLabel("a.b.localhost", "localhost"), undefined);
    assert.equal(hostLabel(undefined, "localhost"), undefined);
  });
});

describe("exec tokens", () => {
  it("carry a unique jti, which the router accepts once", async () => {
    const key = new TextEncoder().encode("k".repeat(32));
    const claims = { sub: "ada", namespace: "team-a", sandbox: "web" };
    const [one, two] = [await mintExecToken(key, claims), await mintExecToken(key, claims)];
    const [a, b] = [ExecTokenClaims.parse(decodeJwt(one)), ExecTokenClaims.parse(decodeJwt(two))];
    assert.equal(a.aud, EXEC_TOKEN_AUDIENCE);
    assert.ok(a.jti.length > 0);
    assert.notEqual(a.jti, b.jti);
    const { jti: _, ...withoutJti } = a;
    assert.equal(
      ExecTokenClaims.safeParse(withoutJti).success,
      false,
      "a token without jti is refused",
    );
  });
});
