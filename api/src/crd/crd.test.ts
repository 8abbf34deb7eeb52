/**
 * The CRDs generated from the zod schemas, installed into the real
 * kube-apiserver: the API server itself must refuse bad specs, naming the
 * field, before any controller sees them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { createCustomObject, installCrds, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { driftedCrds } from "../generate/crds.ts";
import { API_VERSION, GROUP, Sandbox, VERSION } from "./index.ts";

const kc = testKubeConfig();

function sandbox(name: string, spec: Record<string, unknown>) {
  return { apiVersion: API_VERSION, kind: "Sandbox", metadata: { name }, spec };
}

describe("CRD YAML", () => {
  it("matches the zod schemas (run `npm run generate:crds` after changing them)", async () => {
    assert.deepEqual(await driftedCrds(), []);
  });
});

describe("Sandbox CRD on the real API server", () => {
  const namespace = uniqueName("crd");
  const core = kc.makeApiClient(CoreV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);
  const target = { group: GROUP, version: VERSION, namespace, plural: "sandboxes" };
  const create = (body: object) => createCustomObject(objects, target, body);

  before(async () => {
    await installCrds();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(() => core.deleteNamespace({ name: namespace }));

  it("accepts a valid sandbox, applies the schema's defaults and leaves template-fillable fields unset", async () => {
    const created = await create(
      sandbox("quickstart", {
        image: "debian-python:latest",
        resources: { memory: "1Gi" },
        command: ["python3", "-m", "http.server", "8000"],
        ingress: { enabled: true, access: "public", routes: [{ prefix: "/", port: 8000 }] },
      }),
    );
    assert.equal(created.spec.operatingMode, "Running");
    assert.equal(created.spec.ingress.routes[0].stripPrefix, true);
    // Fields a template may fill stay unset: the operator applies their defaults after merging.
    assert.equal(created.spec.resources.cpus, undefined);
    assert.equal(created.spec.ingress.websockets, undefined);
    // What the API server stored also satisfies the zod schema the controllers use.
    assert.ok(Sandbox.safeParse({ ...created, metadata: created.metadata }).success);
  });

  const rejected: [string, Record<string, unknown>, RegExp][] = [
    [
      "a route prefix without a leading /",
      { image: "x", ingress: { routes: [{ prefix: "api", port: 9000 }] } },
      /spec\.ingress\.routes\[0\]\.prefix/,
    ],
    ["negative cpus", { image: "x", resources: { cpus: -1 } }, /spec\.resources\.cpus/],
    ["negative memory", { image: "x", resources: { memory: "-1Gi" } }, /spec\.resources\.memory/],
    [
      "an unknown access value",
      { image: "x", ingress: { access: "everyone" } },
      /spec\.ingress\.access: Unsupported value: "everyone"/,
    ],
    [
      "neither image nor templateRef",
      { resources: { cpus: 1 } },
      /spec\.image or spec\.templateRef is required/,
    ],
    [
      "a port out of range",
      { image: "x", ingress: { routes: [{ prefix: "/", port: 70000 }] } },
      /spec\.ingress\.routes\[0\]\.port/,
    ],
    [
      "a CIDR whose prefix is too long",
      { image: "x", network: { deniedCIDRs: ["10.0.0.0/8", "10.0.0.0/99"] } },
      /spec\.network\.deniedCIDRs\[1\]: Invalid value: "string": must be a CIDR/,
    ],
    [
      "an IPv6 CIDR that is not one",
      { image: "x", network: { deniedCIDRs: ["fd00::/129"] } },
      /spec\.network\.deniedCIDRs\[0\]: Invalid value: "string": must be a CIDR/,
    ],
    [
      "two routes with the same prefix",
      {
        image: "x",
        ingress: {
          routes: [
            { prefix: "/", port: 8000 },
            { prefix: "/", port: 9000 },
          ],
        },
      },
      /spec\.ingress\.routes\[1\]: Duplicate value: .*"prefix":"\/"/,
    ],
    [
      "two env vars with one name",
      {
        image: "x",
        env: [
          { name: "A", value: "1" },
          { name: "A", value: "2" },
        ],
      },
      /spec\.env\[1\]: Duplicate value/,
    ],
    [
      "two secrets with one name",
      {
        image: "x",
        network: {
          secrets: [
            { name: "T", hosts: ["a.example"], secretKeyRef: { name: "s", key: "k" } },
            { name: "T", hosts: ["b.example"], secretKeyRef: { name: "s", key: "k" } },
          ],
        },
      },
      /spec\.network\.secrets\[1\]: Duplicate value/,
    ],
    [
      "an open DNS mode",
      { image: "x", network: { dns: { mode: "open" } } },
      /spec\.network\.dns\.mode: Unsupported value: "open"/,
    ],
  ];
  it("refuses a name with '--', which would clash with another sandbox's routed host", async () => {
    await assert.rejects(
      create(sandbox("web--acme", { image: "x" })),
      (error: { code?: number; body?: string }) => {
        assert.equal(error.code, 422, String(error.body));
        assert.match(String(error.body), /metadata\.name must not contain '--'/);
        return true;
      },
    );
    assert.equal(Sandbox.safeParse(sandbox("web--acme", { image: "x" })).success, false);
  });

  for (const [what, spec, field] of rejected) {
    it(`refuses ${what}, naming the field`, async () => {
      await assert.rejects(
        create(sandbox(uniqueName("bad"), spec)),
        (error: { code?: number; body?: string }) => {
          assert.equal(error.code, 422, String(error.body));
          assert.match((JSON.parse(String(error.body)) as { message: string }).message, field);
          return true;
        },
      );
      // The controllers' own validation agrees.
      assert.equal(Sandbox.safeParse(sandbox("x", spec)).success, false);
    });
  }
});
