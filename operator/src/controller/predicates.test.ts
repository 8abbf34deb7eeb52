import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubernetesObject } from "@kubernetes/client-node";
import { SpecChangeFilter } from "./predicates.ts";

type Sandbox = KubernetesObject & { spec?: unknown; status?: unknown };

const base: Sandbox = {
  apiVersion: "turgon.dev/v1alpha1",
  kind: "Sandbox",
  metadata: {
    name: "one",
    namespace: "team",
    uid: "uid-1",
    generation: 1,
    resourceVersion: "10",
    labels: { app: "demo" },
    annotations: { note: "a" },
    finalizers: ["turgon.dev/vm-cleanup"],
  },
  spec: { image: "debian-python:latest" },
};

/** The base object with `change` applied, as the next version the watch delivers. */
function next(change: (s: Sandbox) => void, resourceVersion = "11"): Sandbox {
  const copy = structuredClone(base);
  (copy.metadata as { resourceVersion: string }).resourceVersion = resourceVersion;
  change(copy);
  return copy;
}

function filterAfter(first: Sandbox): SpecChangeFilter {
  const filter = new SpecChangeFilter();
  filter.added(first);
  return filter;
}

describe("SpecChangeFilter", () => {
  it("drops an update that moved only status, resourceVersion or managedFields", () => {
    const filter = filterAfter(base);
    assert.equal(
      filter.updated(
        next((s) => {
          s.status = { phase: "Running" };
          (s.metadata as { managedFields: unknown[] }).managedFields = [{ manager: "operator" }];
        }),
      ),
      false,
    );
    assert.equal(filter.updated(next((s) => (s.status = { phase: "Ready" }), "12")), false);
  });

  it("passes a spec change (a new generation)", () => {
    const filter = filterAfter(base);
    assert.equal(
      filter.updated(
        next((s) => {
          s.spec = { image: "other" };
          (s.metadata as { generation: number }).generation = 2;
        }),
      ),
      true,
    );
  });

  it("passes a deletion, a finalizer change, a label or annotation change", () => {
    const changes: [string, (s: Sandbox) => void][] = [
      [
        "deletion",
        (s) => ((s.metadata as { deletionTimestamp: Date }).deletionTimestamp = new Date(0)),
      ],
      ["finalizer", (s) => ((s.metadata as { finalizers: string[] }).finalizers = [])],
      ["label", (s) => ((s.metadata as { labels: object }).labels = { app: "other" })],
      ["annotation", (s) => ((s.metadata as { annotations: object }).annotations = {})],
      ["a new object of the same name", (s) => ((s.metadata as { uid: string }).uid = "uid-2")],
    ];
    for (const [what, change] of changes)
      assert.equal(filterAfter(base).updated(next(change)), true, what);
  });

  it("compares with the last update it saw, not the first", () => {
    const filter = filterAfter(base);
    const relabelled = next((s) => ((s.metadata as { labels: object }).labels = { app: "b" }));
    assert.equal(filter.updated(relabelled), true);
    const statusAfter = structuredClone(relabelled);
    statusAfter.status = { phase: "Running" };
    assert.equal(filter.updated(statusAfter), false, "status-only after the relabel");
  });

  it("passes an update of an object it never saw, and forgets deleted objects", () => {
    const filter = new SpecChangeFilter();
    assert.equal(filter.updated(base), true, "unknown: reconcile rather than guess");
    assert.equal(filter.updated(next((s) => (s.status = {}))), false);
    filter.deleted(base);
    assert.equal(filter.updated(next((s) => (s.status = {}), "13")), true);
  });

  it("tells objects apart by namespace and name", () => {
    const filter = filterAfter(base);
    const elsewhere = next((s) => ((s.metadata as { namespace: string }).namespace = "other"));
    assert.equal(filter.updated(elsewhere), true);
    assert.equal(filter.updated(next((s) => (s.status = {}), "14")), false);
  });
});
