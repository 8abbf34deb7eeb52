import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  clientIssues,
  fieldKey,
  fromYaml,
  retryUnlessRefused,
  secretsOf,
  toYaml,
  withField,
} from "./policy-form.ts";

describe("the policy editor's model", () => {
  it("keys issues as the API server names fields", () => {
    assert.equal(fieldKey(["allowedHosts", 1]), "spec.allowedHosts[1]");
    assert.equal(
      fieldKey(["secrets", 0, "secretKeyRef", "key"]),
      "spec.secrets[0].secretKeyRef.key",
    );
    const issues = clientIssues({
      allowedHosts: ["ok.example", "http://bad/"],
      deniedCIDRs: ["10.0.0.0/33"],
      dns: { mode: "open" },
    });
    assert.match(issues["spec.allowedHosts[1]"]?.[0] ?? "", /must be a host name/);
    assert.match(issues["spec.deniedCIDRs[0]"]?.[0] ?? "", /must be a CIDR/);
    assert.ok(issues["spec.dns.mode"]);
    assert.equal(issues["spec.allowedHosts[0]"], undefined);
    assert.deepEqual(clientIssues({ allowedHosts: ["*.example.com"], websockets: true }), {});
  });

  it("YAML round-trips, and an error names its line", () => {
    const spec = { allowedHosts: ["a.example"], deniedMethods: ["DELETE"], websockets: true };
    assert.deepEqual(fromYaml(toYaml(spec)), { spec });
    assert.deepEqual(fromYaml(""), { spec: {} });
    assert.deepEqual(fromYaml(toYaml({})), { spec: {} });
    const broken = fromYaml("allowedHosts: [a\nwebsockets: true\n");
    assert.ok("error" in broken);
    assert.match(broken.error, /^YAML line \d+, column \d+: /);
    const list = fromYaml("- a\n- b\n");
    assert.ok("error" in list && /mapping/.test(list.error));
  });

  it("an emptied list or unset value drops the field (the rule's default)", () => {
    assert.deepEqual(withField({ allowedHosts: ["a"], websockets: true }, "allowedHosts", []), {
      websockets: true,
    });
    assert.deepEqual(withField({ websockets: true }, "websockets", undefined), {});
    assert.deepEqual(withField({}, "mode", "report"), { mode: "report" });
  });

  it("reads secrets rows defensively (YAML may hold anything)", () => {
    assert.deepEqual(
      secretsOf({
        secrets: [{ name: "T", hosts: ["h"], secretKeyRef: { name: "s", key: "k" } }, null],
      }),
      [
        { name: "T", hosts: ["h"], secretKeyRef: { name: "s", key: "k" } },
        { name: "", hosts: [], secretKeyRef: { name: "", key: "" } },
      ],
    );
  });

  it("never retries a refusal", () => {
    assert.equal(retryUnlessRefused(0, { data: { code: "FORBIDDEN" } }), false);
    assert.equal(retryUnlessRefused(0, { data: { code: "NOT_FOUND" } }), false);
    assert.equal(retryUnlessRefused(0, new Error("network")), true);
    assert.equal(retryUnlessRefused(2, new Error("network")), false);
  });
});
