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
import { testEnvironment, testKubeConfig, uniqueName } from "../testing/index.ts";
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

async function waitForEstablished(api: ApiextensionsV1Api, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const crd = await api.readCustomResourceDefinition({ name });
    if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True"))
      return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`CRD ${name} was not Established within 30 s`);
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
