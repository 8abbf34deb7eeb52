import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergeNetworkLayers, policyRefOf } from "./effective.ts";

const secret = (name: string, host: string) => ({
  name,
  hosts: [host],
  secretKeyRef: { name: "creds", key: name.toLowerCase() },
});

describe("mergeNetworkLayers", () => {
  const policy = {
    metadata: { name: "shared" },
    spec: {
      allowedHosts: ["pypi.org"],
      deniedMethods: ["DELETE" as const],
      secrets: [secret("PYPI_TOKEN", "pypi.org"), secret("GH_TOKEN", "github.com")],
      allowSandboxOverrides: true,
    },
  };

  it("lets the template override the policy and the sandbox override both, naming each rule's origin", () => {
    const merged = mergeNetworkLayers({
      policy,
      template: { policyRef: { name: "shared" }, websockets: false, mode: "report" },
      inline: {
        allowedHosts: ["api.example.com"],
        mode: "enforce",
        secrets: [secret("GH_TOKEN", "api.github.com")],
      },
    });
    assert.equal(merged.policyName, "shared");
    assert.deepEqual(merged.rules.allowedHosts, ["api.example.com"]);
    assert.deepEqual(merged.rules.deniedMethods, ["DELETE"]);
    assert.equal(merged.rules.websockets, false);
    assert.equal(merged.rules.mode, "enforce");
    assert.deepEqual(merged.origins, {
      allowedHosts: "inline",
      blockInternalRanges: "default",
      deniedMethods: "policy",
      deniedCIDRs: "default",
      dns: "default",
      websockets: "template",
      mode: "inline",
    });
    assert.deepEqual(
      merged.rules.secrets.map((s) => [s.name, s.hosts]),
      [
        ["PYPI_TOKEN", ["pypi.org"]],
        ["GH_TOKEN", ["api.github.com"]],
      ],
    );
    assert.deepEqual(merged.secretOrigins, { PYPI_TOKEN: "policy", GH_TOKEN: "inline" });
    assert.equal(
      "allowSandboxOverrides" in merged.rules,
      false,
      "a policy's own switch is no rule",
    );
  });

  it("falls back to default-deny with nothing set", () => {
    const merged = mergeNetworkLayers({});
    assert.deepEqual(merged.rules, { allowedHosts: [], mode: "enforce", secrets: [] });
    assert.equal(merged.policyName, undefined);
    assert.ok(Object.values(merged.origins).every((o) => o === "default"));
  });

  it("takes the sandbox's own policyRef over its template's", () => {
    assert.equal(policyRefOf({ template: { policyRef: { name: "t" } } }), "t");
    assert.equal(
      policyRefOf({ template: { policyRef: { name: "t" } }, inline: { policyRef: { name: "s" } } }),
      "s",
    );
    assert.equal(policyRefOf({}), undefined);
  });
});
