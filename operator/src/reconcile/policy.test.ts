/**
 * Effective policy resolution as the operator does it: policies from a map
 * (pure logic), Secrets through the operator's real label-scoped Secret
 * informer on the real API server.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { API_VERSION, INJECTABLE_LABEL, type SandboxPolicy } from "@turgon/api/crd";
import { testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { startCaches, stopCaches } from "@turgon/toolkit/kube";
import { type Caches, createCaches } from "../controller/caches.ts";
import { logger } from "../logger.ts";
import {
  cachedPolicySources,
  PolicyResolutionError,
  type PolicySources,
  resolveEffectivePolicy,
} from "./policy.ts";

const policy = (name: string, spec: SandboxPolicy["spec"]): SandboxPolicy => ({
  apiVersion: API_VERSION,
  kind: "SandboxPolicy",
  metadata: { name },
  spec,
});

const shared = policy("shared", {
  allowedHosts: ["pypi.org", "*.pythonhosted.org"],
  deniedMethods: ["DELETE"],
  mode: "report",
  secrets: [
    { name: "PYPI_TOKEN", hosts: ["pypi.org"], secretKeyRef: { name: "creds", key: "pypi" } },
  ],
});
const strict = policy("strict", {
  allowedHosts: ["*.example.com", "pypi.org"],
  deniedMethods: ["DELETE", "PUT"],
  deniedCIDRs: ["203.0.113.0/24"],
  websockets: false,
});
const lenient = policy("lenient", { ...strict.spec, allowSandboxOverrides: true });

describe("resolveEffectivePolicy", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = uniqueName("policy");
  let caches: Caches;
  let sources: PolicySources;

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const injectable = { [INJECTABLE_LABEL]: "true" };
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: "creds",
          labels: injectable,
          annotations: { "kubectl.kubernetes.io/last-applied-configuration": "pypi-real-token" },
        },
        stringData: { pypi: "pypi-real-token", gh: "gh-real-token", utf8: "tøken-ü €" },
      },
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "db-password" }, stringData: { password: "not-for-guests" } },
    });
    caches = createCaches(kc);
    await startCaches({ secrets: caches.secrets }, logger);
    const byName = new Map([shared, strict, lenient].map((p) => [p.metadata.name, p]));
    const fromCache = cachedPolicySources(caches, namespace);
    sources = { policy: async (name) => byName.get(name), secret: fromCache.secret };
    const deadline = Date.now() + 10_000;
    while (!caches.secrets.get("creds", namespace)) {
      if (Date.now() > deadline) throw new Error("Secret creds never reached the informer cache");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(async () => {
    await stopCaches({ secrets: caches.secrets });
    await core.deleteNamespace({ name: namespace });
  });

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
      policyName: "shared",
      secrets: [
        { name: "PYPI_TOKEN", hosts: ["pypi.org"], value: "pypi-real-token" },
        { name: "GH_TOKEN", hosts: ["api.github.com"], value: "gh-real-token" },
      ],
    });
  });

  it("decodes cached Secret values (base64 of UTF-8, as the API server keeps them) with their labels", async () => {
    // The production decoder, through the operator's own Secret informer: no copy of it here.
    assert.deepEqual(await sources.secret("creds"), {
      labels: { [INJECTABLE_LABEL]: "true" },
      data: { pypi: "pypi-real-token", gh: "gh-real-token", utf8: "tøken-ü €" },
    });
    assert.equal(await sources.secret("no-such-secret"), undefined);
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

  it("injects only Secrets labelled injectable: any other is SecretNotFound, saying why", async () => {
    await assert.rejects(
      resolveEffectivePolicy(
        {
          secrets: [
            {
              name: "DB",
              hosts: ["attacker.example"],
              secretKeyRef: { name: "db-password", key: "password" },
            },
          ],
        },
        sources,
      ),
      (e: unknown) =>
        e instanceof PolicyResolutionError &&
        e.reason === "SecretNotFound" &&
        e.field === "spec.network.secrets[0].secretKeyRef.name" &&
        /not labelled turgon\.dev\/injectable=true/.test(e.message),
    );
    assert.equal(caches.secrets.get("db-password", namespace), undefined, "never cached");
  });

  it("keeps only what it needs of a cached Secret: no managed fields, no annotations", () => {
    const cached = caches.secrets.get("creds", namespace);
    assert.ok(cached);
    assert.deepEqual(Object.keys(cached.metadata ?? {}).sort(), [
      "labels",
      "name",
      "namespace",
      "resourceVersion",
      "uid",
    ]);
    assert.doesNotMatch(JSON.stringify(cached.metadata), /pypi-real-token|managedFields/);
  });

  it("refuses inline rules that relax a referenced policy, naming the field, unless it allows overrides", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ blockInternalRanges: false }, "spec.network.blockInternalRanges"],
      [{ mode: "report" }, "spec.network.mode"],
      [{ allowedHosts: ["evil.example"] }, "spec.network.allowedHosts[0]"],
      [{ allowedHosts: ["*"] }, "spec.network.allowedHosts[0]"],
      [{ deniedMethods: ["DELETE"] }, "spec.network.deniedMethods"],
      [{ deniedCIDRs: [] }, "spec.network.deniedCIDRs"],
      [{ websockets: true }, "spec.network.websockets"],
      [{ dns: { mode: "trusted" } }, "spec.network.dns.mode"],
    ];
    for (const [inline, field] of cases) {
      await assert.rejects(
        resolveEffectivePolicy({ policyRef: { name: "strict" }, ...inline }, sources),
        (e: unknown) =>
          e instanceof PolicyResolutionError &&
          e.reason === "OverrideNotAllowed" &&
          e.field === field &&
          /allowSandboxOverrides: true/.test(e.message),
        JSON.stringify(inline),
      );
      const relaxed = await resolveEffectivePolicy(
        { policyRef: { name: "lenient" }, ...inline },
        sources,
      );
      assert.ok(relaxed, `the lenient policy allows ${JSON.stringify(inline)}`);
    }
    // Tightening needs no permission; and a sandbox without a policy writes its own rules.
    const tighter = await resolveEffectivePolicy(
      {
        policyRef: { name: "strict" },
        allowedHosts: ["api.example.com"],
        deniedMethods: ["DELETE", "PUT", "POST"],
        websockets: false,
      },
      sources,
    );
    assert.deepEqual(tighter.allowedHosts, ["api.example.com"]);
    assert.ok(
      await resolveEffectivePolicy({ blockInternalRanges: false, mode: "report" }, sources),
    );
  });
});
