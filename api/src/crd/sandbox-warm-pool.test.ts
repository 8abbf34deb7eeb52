/**
 * The SandboxWarmPool CRD on the real kube-apiserver: it refuses a bad pool
 * naming the field, agrees with the zod schema the operator uses, and
 * `kubectl get sandboxwarmpools` shows template, desired and ready.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import {
  createCustomObject,
  installCrds,
  kubectl,
  testKubeConfig,
  uniqueName,
} from "@turgon/dev/testing";
import { API_VERSION, GROUP, SandboxWarmPool, VERSION } from "./index.ts";

const kc = testKubeConfig();

function pool(name: string, spec: Record<string, unknown>) {
  return { apiVersion: API_VERSION, kind: "SandboxWarmPool", metadata: { name }, spec };
}

describe("SandboxWarmPool CRD on the real API server", () => {
  const namespace = uniqueName("crd-pool");
  const core = kc.makeApiClient(CoreV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);
  const target = { group: GROUP, version: VERSION, namespace, plural: "sandboxwarmpools" };
  const create = (body: object) => createCustomObject(objects, target, body);

  before(async () => {
    await installCrds();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(() => core.deleteNamespace({ name: namespace }));

  it("accepts a pool, and kubectl get shows its template and desired replicas", async () => {
    const created = await create(pool("web", { templateRef: { name: "python-web" }, replicas: 3 }));
    assert.ok(SandboxWarmPool.safeParse(created).success);
    const table = await kubectl(["get", "sandboxwarmpools", "-n", namespace]);
    assert.equal(table.exitCode, 0, table.tail);
    const [header, row] = table.stdout.trim().split("\n");
    assert.match(String(header), /^NAME\s+TEMPLATE\s+DESIRED\s+READY\s+AGE$/);
    // No agent has reported yet: READY is empty.
    assert.match(String(row), /^web\s+python-web\s+3\s+\S+$/);
  });

  const rejected: [string, Record<string, unknown>, RegExp][] = [
    ["more than 100 replicas", { templateRef: { name: "t" }, replicas: 101 }, /spec\.replicas/],
    ["negative replicas", { templateRef: { name: "t" }, replicas: -1 }, /spec\.replicas/],
    ["no replicas", { templateRef: { name: "t" } }, /spec\.replicas: Required value/],
    ["no templateRef", { replicas: 1 }, /spec\.templateRef: Required value/],
    [
      "a templateRef that is not a name",
      { templateRef: { name: "Not_A_Name" }, replicas: 1 },
      /spec\.templateRef\.name/,
    ],
  ];
  it("refuses a name that is not a DNS label (the agents key pools by one)", async () => {
    await assert.rejects(
      create(pool("web.pool", { templateRef: { name: "t" }, replicas: 1 })),
      (error: { code?: number; body?: string }) => {
        assert.equal(error.code, 422, String(error.body));
        assert.match(String(error.body), /metadata\.name must be a DNS label/);
        return true;
      },
    );
    assert.equal(
      SandboxWarmPool.safeParse(pool("web.pool", { templateRef: { name: "t" }, replicas: 1 }))
        .success,
      false,
    );
  });

  for (const [what, spec, field] of rejected) {
    it(`refuses ${what}, naming the field`, async () => {
      await assert.rejects(
        create(pool(uniqueName("bad"), spec)),
        (error: { code?: number; body?: string }) => {
          assert.ok(error.code === 422 || error.code === 400, String(error.body));
          assert.match((JSON.parse(String(error.body)) as { message: string }).message, field);
          return true;
        },
      );
      assert.equal(SandboxWarmPool.safeParse(pool("x", spec)).success, false);
    });
  }
});
