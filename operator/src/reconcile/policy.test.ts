import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { API_VERSION, type SandboxPolicy } from "@turgon/api/crd";
import { testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { PolicyResolutionError, type PolicySources, resolveEffectivePolicy } from "./policy.ts";

const shared: SandboxPolicy = {
  apiVersion: API_VERSION,
  kind: "SandboxPolicy",
  metadata: { name: "shared" },
  spec: {
    allowedHosts: ["pypi.org", "*.pythonhosted.org"],
    deniedMethods: ["DELETE"],
    mode: "report",
    secrets: [
      { name: "PYPI_TOKEN", hosts: ["pypi.org"], secretKeyRef: { name: "creds", key: "pypi" } },
    ],
  },
};

describe("resolveEffectivePolicy", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = uniqueName("policy");
  /** Policies from a map (pure logic); Secrets from the real API server. */
  const sources: PolicySources = {
    policy: async (name) => (name === "shared" ? shared : undefined),
    secret: async (name) => {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        return Object.fromEntries(
          Object.entries(secret.data ?? {}).map(([k, v]) => [
            k,
            Buffer.from(v, "base64").toString("utf8"),
          ]),
        );
      } catch (error) {
        if ((error as { code?: number }).code === 404) return undefined;
        throw error;
      }
    },
  };

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "creds" },
        stringData: { pypi: "pypi-real-token", gh: "gh-real-token" },
      },
    });
  });
  after(() => core.deleteNamespace({ name: namespace }).then(() => {}));

  it("defaults to deny-all in enforce mode with no policy at all", async () => {
    assert.deepEqual(await resolveEffectivePolicy(undefined, sources), {
      allowedHosts: [],
      secrets: [],
      mode: "enforce",
    });
  });

  it("merges the referenced policy with inline rules (inline wins) and reads Secret values", async () => {
    const effective = await resolveEffectivePolicy(
      {
        policyRef: { name: "shared" },
        mode: "enforce",
        secrets: [
          {
            name: "GH_TOKEN",
            hosts: ["api.github.com"],
            secretKeyRef: { name: "creds", key: "gh" },
          },
        ],
      },
      sources,
    );
    assert.deepEqual(effective, {
      allowedHosts: ["pypi.org", "*.pythonhosted.org"],
      deniedMethods: ["DELETE"],
      mode: "enforce",
      secrets: [
        { name: "PYPI_TOKEN", hosts: ["pypi.org"], value: "pypi-real-token" },
        { name: "GH_TOKEN", hosts: ["api.github.com"], value: "gh-real-token" },
      ],
    });
  });

  it("names the field when a policy, Secret or key is missing", async () => {
    await assert.rejects(
      resolveEffectivePolicy({ policyRef: { name: "nope" } }, sources),
      (e: unknown) =>
        e instanceof PolicyResolutionError &&
        e.reason === "PolicyNotFound" &&
        e.field === "spec.network.policyRef.name",
    );
    const secret = (name: string, key: string) => ({
      secrets: [{ name: "T", hosts: ["h.example"], secretKeyRef: { name, key } }],
    });
    await assert.rejects(
      resolveEffectivePolicy(secret("missing", "k"), sources),
      /spec\.network\.secrets\[0\]\.secretKeyRef\.name: Secret "missing" does not exist/,
    );
    await assert.rejects(
      resolveEffectivePolicy(secret("creds", "nokey"), sources),
      /secretKeyRef\.key: Secret "creds" has no key "nokey"/,
    );
  });
});
