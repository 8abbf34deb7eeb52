import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, type KubernetesObject } from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "@turgon/api/crd";
import { createCustomObject, installCrds, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { customResourceInformer, startCaches, stopCaches } from "@turgon/toolkit/kube";
import { logger } from "../logger.ts";
import { watchResource } from "./informer.ts";
import { WorkQueue } from "./workqueue.ts";

describe("informer → work queue on the real API server", () => {
  const kc = testKubeConfig();
  const namespace = uniqueName("informer");
  const objects = kc.makeApiClient(CustomObjectsApi);
  const target = { group: GROUP, version: VERSION, namespace, plural: "sandboxes" };
  const queue = new WorkQueue<string>();
  let informer: ReturnType<typeof watchResource<KubernetesObject>>;

  /** The next key for this test's namespace (other tests share the cluster). */
  const nextKey = async (): Promise<string> => {
    for (;;) {
      const key = (await Promise.race([
        queue.get(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error("no key within 20 s")), 20_000),
        ),
      ])) as string;
      queue.done(key);
      if (key.startsWith(`${namespace}/`)) return key;
    }
  };
  const create = (name: string) =>
    createCustomObject(objects, target, {
      apiVersion: API_VERSION,
      kind: "Sandbox",
      metadata: { name },
      spec: { image: "debian-python:latest" },
    });

  before(async () => {
    await installCrds();
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
    await create("existing");
    informer = watchResource(kc, { group: GROUP, version: VERSION, plural: "sandboxes" }, queue);
    await informer.start();
  });
  after(async () => {
    await informer?.stop();
    queue.shutDown();
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
  });

  it("lists what exists, then sees creates, updates and deletes as keys, with a cache for reads", async () => {
    assert.equal(await nextKey(), `${namespace}/existing`);
    await create("fresh");
    assert.equal(await nextKey(), `${namespace}/fresh`);
    assert.equal(informer.get("fresh", namespace)?.metadata?.name, "fresh");
    await objects.patchNamespacedCustomObject({
      ...target,
      name: "fresh",
      body: [{ op: "add", path: "/metadata/labels", value: { touched: "yes" } }],
    });
    assert.equal(await nextKey(), `${namespace}/fresh`);
    await objects.deleteNamespacedCustomObject({ ...target, name: "existing" });
    assert.equal(await nextKey(), `${namespace}/existing`);
    assert.equal(informer.get("existing", namespace), undefined);
  });

  it("with a label selector, lists and watches only matching objects", async () => {
    const selected = customResourceInformer<KubernetesObject>(
      kc,
      { group: GROUP, version: VERSION, plural: "sandboxes" },
      `shard=${namespace}`,
    );
    await startCaches({ selected }, logger.child({}, { level: "silent" }));
    try {
      const labelled = async (name: string, shard: string) => {
        await create(name);
        await objects.patchNamespacedCustomObject({
          ...target,
          name,
          body: [{ op: "add", path: "/metadata/labels", value: { shard } }],
        });
      };
      // The other one first: one watch delivers in resourceVersion order, so were it
      // not filtered it would be in the cache by the time the matching one is.
      await labelled("theirs", "elsewhere");
      await labelled("mine", namespace);
      const deadline = Date.now() + 10_000;
      while (!selected.get("mine", namespace) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(selected.get("mine", namespace), "the matching object arrives");
      assert.equal(selected.get("theirs", namespace), undefined, "the other does not");
      assert.deepEqual(
        selected.list().map((o) => o.metadata?.name),
        ["mine"],
      );
    } finally {
      await stopCaches({ selected });
    }
  });
});
