import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { API_VERSION, GROUP, type Sandbox, VERSION } from "@turgon/api/crd";
import { installCrds, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { ConflictError, mergePatchOf, SandboxWrites } from "./status-writes.ts";

describe("mergePatchOf", () => {
  it("says only what changed: new and changed fields, null for removed ones", () => {
    assert.equal(mergePatchOf({ phase: "Running" }, { phase: "Running" }), undefined);
    assert.deepEqual(
      mergePatchOf(
        { phase: "Starting", nodeName: "n1", message: "booting" },
        { phase: "Running", nodeName: "n1", startedAt: "2026-12-01T00:00:00Z" },
      ),
      { phase: "Running", message: null, startedAt: "2026-12-01T00:00:00Z" },
    );
  });

  it("patches objects field by field and replaces arrays whole", () => {
    const conditions = [{ type: "Ready", status: "True" }];
    assert.deepEqual(
      mergePatchOf(
        { ingress: { url: "http://a", routes: [1] }, conditions: [] },
        { ingress: { url: "http://a", routes: [1, 2] }, conditions },
      ),
      { ingress: { routes: [1, 2] }, conditions },
    );
    assert.deepEqual(mergePatchOf({ ssh: { command: "ssh a" } }, {}), { ssh: null });
    assert.deepEqual(mergePatchOf({}, { ssh: { command: "ssh a" } }), {
      ssh: { command: "ssh a" },
    });
  });
});

describe("SandboxWrites on the real API server", () => {
  const kc = testKubeConfig();
  const namespace = uniqueName("writes");
  const objects = kc.makeApiClient(CustomObjectsApi);
  const target = { group: GROUP, version: VERSION, namespace, plural: "sandboxes" };
  const create = async (name: string) =>
    (await objects.createNamespacedCustomObject({
      ...target,
      body: {
        apiVersion: API_VERSION,
        kind: "Sandbox",
        metadata: { name },
        spec: { image: "debian-python:latest" },
      },
    })) as Sandbox;
  const read = async (name: string) =>
    (await objects.getNamespacedCustomObject({ ...target, name })) as Sandbox;

  before(async () => {
    await installCrds();
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
  });

  it("while the cache shows a version its writes replaced, the latest is what it wrote", async () => {
    const writes = new SandboxWrites(kc);
    const created = await create("chain");
    assert.equal(writes.latest(created), created, "nothing written yet: the cached object");

    const withFinalizer = await writes.metadata(created, { finalizers: ["test.turgon.dev/keep"] });
    assert.ok(withFinalizer);
    const scheduled = await writes.status(withFinalizer, {
      phase: "Starting",
      nodeName: "n1",
      message: "booting",
    });
    const running = await writes.status(scheduled, { phase: "Running", nodeName: "n1" });
    assert.deepEqual((await read("chain")).status, { phase: "Running", nodeName: "n1" });
    // A cache a version or two behind: every version the chain replaced gives its end.
    assert.equal(writes.latest(created)?.status?.phase, "Running");
    assert.equal(writes.latest(withFinalizer)?.status?.phase, "Running");
    assert.equal(writes.latest(scheduled)?.status?.phase, "Running");
    // Each version the chain made is its own; the one it started from is not.
    for (const own of [withFinalizer, scheduled, running]) assert.ok(writes.wrote(own));
    assert.equal(writes.wrote(created), false);

    // A write from a stale copy is refused by the API server, not applied.
    await assert.rejects(writes.status(scheduled, { phase: "Failed" }), ConflictError);
    assert.equal((await read("chain")).status?.phase, "Running");

    // The cache caught up: from now on it is the truth, and the chain is forgotten.
    const fresh = await read("chain");
    assert.equal(writes.latest(fresh), fresh);
    assert.equal(writes.latest(created), created, "forgotten once the cache caught up");
    assert.equal(writes.wrote(running), false);
    await writes.metadata(fresh, { finalizers: [] });
  });

  it("someone else's newer write wins over what it wrote", async () => {
    const writes = new SandboxWrites(kc);
    const created = await create("theirs");
    const ours = await writes.status(created, { phase: "Starting" });
    const theirs = (await objects.patchNamespacedCustomObject({
      ...target,
      name: "theirs",
      body: [{ op: "add", path: "/metadata/labels", value: { edited: "yes" } }],
    })) as Sandbox;
    assert.equal(writes.wrote(theirs), false, "not our version");
    assert.equal(writes.latest(theirs), theirs);
    assert.equal(writes.latest(ours), ours, "the chain is forgotten, the cache trusted");
  });

  it("an unchanged status is not written; a sandbox gone is no error for metadata", async () => {
    const writes = new SandboxWrites(kc);
    const created = await create("same");
    const written = await writes.status(created, { phase: "Starting" });
    assert.equal(await writes.status(written, { phase: "Starting" }), written, "no call made");
    await objects.deleteNamespacedCustomObject({ ...target, name: "same" });
    assert.equal(await writes.metadata(written, { finalizers: [] }), undefined);
  });
});
