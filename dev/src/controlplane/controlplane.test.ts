import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1CustomResourceDefinition,
  Watch,
} from "@kubernetes/client-node";
import { eventually, testEnvironment, testKubeConfig, uniqueName } from "../testing/index.ts";
import { httpsGet } from "./https.ts";
import { pkiPaths } from "./pki.ts";

const GROUP = "test.turgon.dev";
const PLURAL = "widgets";

function widgetCrd(): V1CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: { plural: PLURAL, singular: "widget", kind: "Widget" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  required: ["size"],
                  properties: { size: { type: "integer", minimum: 1 } },
                },
              },
            },
          },
        },
      ],
    },
  };
}

describe("local kube-apiserver and etcd", () => {
  const env = testEnvironment();
  const kc = testKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = uniqueName("cp");

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });

  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  it("answers /readyz for the admin client certificate", async () => {
    const pki = pkiPaths(`${env.stateDir}/pki`);
    const response = await httpsGet(`${env.apiServerUrl}/readyz`, {
      ca: await readFile(pki.caCert, "utf8"),
      cert: await readFile(pki.adminCert, "utf8"),
      key: await readFile(pki.adminKey, "utf8"),
    });
    assert.equal(response.status, 200);
    assert.equal(response.body, "ok");
  });

  it("refuses requests without credentials", async () => {
    const ca = await readFile(pkiPaths(`${env.stateDir}/pki`).caCert, "utf8");
    for (const path of ["/api/v1/namespaces", "/readyz"]) {
      const response = await httpsGet(`${env.apiServerUrl}${path}`, { ca });
      assert.equal(response.status, 401, `GET ${path} without credentials`);
      assert.match(response.body, /Unauthorized/);
    }
  });

  it("lists the namespace it created", async () => {
    const list = await core.listNamespace();
    assert.ok(list.items.some((ns) => ns.metadata?.name === namespace));
  });

  it("installs a CRD, then creates, watches and deletes one of its objects", async () => {
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    const crdName = `${PLURAL}.${GROUP}`;
    await extensions
      .createCustomResourceDefinition({ body: widgetCrd() })
      .catch((error: { code?: number }) => {
        if (error.code !== 409) throw error; // installed by an earlier test in this run
      });
    await waitForEstablished(extensions, crdName);

    const objects = kc.makeApiClient(CustomObjectsApi);
    const target = { group: GROUP, version: "v1", namespace, plural: PLURAL };
    const seen: string[] = [];
    let sawDeletion!: () => void;
    const deleted = new Promise<void>((resolve) => {
      sawDeletion = resolve;
    });
    // Like an informer: list, then watch from the list's resourceVersion, and
    // re-watch from there on 429 (a new CRD's watch cache is still warming up).
    const listed = await retryTooManyRequests(() => objects.listNamespacedCustomObject(target));
    const resourceVersion: string = listed.metadata.resourceVersion;
    let finished = false;
    let current: AbortController | undefined;
    const startWatch = async (): Promise<void> => {
      current = await new Watch(kc).watch(
        `/apis/${GROUP}/v1/namespaces/${namespace}/${PLURAL}`,
        { resourceVersion },
        (phase, object: { metadata: { name: string } }) => {
          seen.push(`${phase} ${object.metadata.name}`);
          if (phase === "DELETED") sawDeletion();
        },
        (error: { statusCode?: number } | null) => {
          if (!finished && error?.statusCode === 429) setTimeout(() => void startWatch(), 250);
        },
      );
    };
    await startWatch();
    try {
      const created = await objects.createNamespacedCustomObject({
        ...target,
        body: {
          apiVersion: `${GROUP}/v1`,
          kind: "Widget",
          metadata: { name: "w1" },
          spec: { size: 3 },
        },
      });
      assert.equal(created.spec.size, 3);

      // The CRD's schema is enforced by the API server.
      await assert.rejects(
        objects.createNamespacedCustomObject({
          ...target,
          body: {
            apiVersion: `${GROUP}/v1`,
            kind: "Widget",
            metadata: { name: "w2" },
            spec: { size: 0 },
          },
        }),
        (error: { code?: number; body?: string }) =>
          error.code === 422 && /spec\.size/.test(String(error.body)),
      );

      await objects.deleteNamespacedCustomObject({ ...target, name: "w1" });
      await withTimeout(deleted, 10_000, "the DELETED watch event");
      assert.deepEqual(seen, ["ADDED w1", "DELETED w1"]);
    } finally {
      finished = true;
      current?.abort();
    }
  });
});

describe("local kube-controller-manager", () => {
  const env = testEnvironment();
  const kc = testKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const ca = () => readFile(pkiPaths(`${env.stateDir}/pki`).caCert, "utf8");

  it("serves /healthz to anyone on loopback, and nothing else without credentials", async () => {
    const health = await httpsGet(`${env.controllerManagerUrl}/healthz`, { ca: await ca() });
    assert.equal(health.status, 200);
    assert.equal(health.body, "ok");
    const metrics = await httpsGet(`${env.controllerManagerUrl}/metrics`, { ca: await ca() });
    assert.equal(metrics.status, 403, "anonymous is not authorized beyond the health paths");
  });

  it("gives a new namespace its default ServiceAccount and kube-root-ca.crt", async () => {
    const namespace = uniqueName("sa");
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    try {
      // A read that throws (404: not made yet) is read again.
      await eventually(
        "the default ServiceAccount",
        () => core.readNamespacedServiceAccount({ name: "default", namespace }),
        () => true,
      );
      const rootCa = await eventually(
        "the kube-root-ca.crt ConfigMap",
        () => core.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace }),
        () => true,
      );
      assert.equal(rootCa.data?.["ca.crt"], await ca());
    } finally {
      await core.deleteNamespace({ name: namespace });
    }
  });

  it("finishes deleting a namespace, custom resources and all", async () => {
    const namespace = uniqueName("gone");
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "settings" }, data: { a: "1" } },
    });
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await extensions
      .createCustomResourceDefinition({ body: widgetCrd() })
      .catch((error: { code?: number }) => {
        if (error.code !== 409) throw error;
      });
    await waitForEstablished(extensions, `${PLURAL}.${GROUP}`);
    await retryTooManyRequests(() =>
      kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        group: GROUP,
        version: "v1",
        namespace,
        plural: PLURAL,
        body: {
          apiVersion: `${GROUP}/v1`,
          kind: "Widget",
          metadata: { name: "w" },
          spec: { size: 1 },
        },
      }),
    );

    await core.deleteNamespace({ name: namespace });
    await eventually(
      "the namespace to be gone",
      () => existence(core.readNamespace({ name: namespace })),
      (state) => state === "gone",
    );
  });

  it("garbage-collects an object whose owner is deleted", async () => {
    const namespace = uniqueName("gc");
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    try {
      const owner = await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: "owner" } },
      });
      await core.createNamespacedConfigMap({
        namespace,
        body: {
          metadata: {
            name: "child",
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name: "owner",
                uid: owner.metadata?.uid as string,
              },
            ],
          },
        },
      });
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: "bystander" } },
      });
      await core.deleteNamespacedConfigMap({ name: "owner", namespace });
      await eventually(
        "the child ConfigMap to be collected",
        () => existence(core.readNamespacedConfigMap({ name: "child", namespace })),
        (state) => state === "gone",
      );
      const bystander = await core.readNamespacedConfigMap({ name: "bystander", namespace });
      assert.equal(bystander.metadata?.name, "bystander", "objects without owners stay");
    } finally {
      await core.deleteNamespace({ name: namespace });
    }
  });
});

/** Whether a read found its object: "gone" on 404; any other error is the read's. */
async function existence(read: Promise<unknown>): Promise<"exists" | "gone"> {
  try {
    await read;
    return "exists";
  } catch (error) {
    if ((error as { code?: number }).code === 404) return "gone";
    throw error;
  }
}

async function waitForEstablished(api: ApiextensionsV1Api, name: string): Promise<void> {
  await eventually(
    `CRD ${name} Established`,
    () => api.readCustomResourceDefinition({ name }),
    (crd) =>
      crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ?? false,
    30_000,
    200,
  );
}

/** Retries while the API server answers 429 (it asks clients to, with Retry-After). */
async function retryTooManyRequests<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: number }).code !== 429 || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
