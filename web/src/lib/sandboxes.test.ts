import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Sandbox } from "@turgon/api/crd";
import {
  applyEvent,
  filtersFromQuery,
  initialRows,
  matchesFilters,
  pageFromQuery,
  parseCursor,
  rowOf,
  type SandboxRow,
} from "./sandboxes.ts";

const sandbox = (name: string, status?: Sandbox["status"], extra: object = {}): Sandbox =>
  ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: {
      name,
      namespace: "ns",
      uid: `uid-${name}`,
      creationTimestamp: "2026-01-01T00:00:00Z",
      ...extra,
    },
    spec: { image: "debian-python:latest", operatingMode: "Running", restartPolicy: "Never" },
    ...(status ? { status } : {}),
  }) as Sandbox;

const row = (name: string, phase: SandboxRow["phase"] = "Running"): SandboxRow => ({
  ...rowOf(sandbox(name), "team-a"),
  phase,
});

describe("sandbox rows", () => {
  it("shows Pending before the operator wrote a status, and Terminating once deletion began", () => {
    assert.equal(rowOf(sandbox("a"), "t").phase, "Pending");
    assert.equal(rowOf(sandbox("a", { phase: "Running" }), "t").phase, "Running");
    assert.equal(
      rowOf(sandbox("a", { phase: "Running" }, { deletionTimestamp: "2026-01-01T00:00:01Z" }), "t")
        .phase,
      "Terminating",
    );
  });

  it("carries the node, the routed URL and why it is not ready", () => {
    const r = rowOf(
      sandbox("a", {
        phase: "Starting",
        nodeName: "n1",
        ingress: { url: "http://a--ns.localhost/" },
        conditions: [
          {
            type: "Ready",
            status: "False",
            reason: "Booting",
            message: "the VM is booting",
            lastTransitionTime: "2026-01-01T00:00:00Z",
          },
        ],
      }),
      "team-a",
    );
    assert.deepEqual(
      [r.key, r.team, r.node, r.url, r.ready, r.reason],
      ["ns/a", "team-a", "n1", "http://a--ns.localhost/", "False", "Booting"],
    );
  });
});

describe("filters from the URL query", () => {
  it("keeps known, well-formed filters and drops the rest", () => {
    assert.deepEqual(
      filtersFromQuery({ namespace: "ns", phase: "Running", q: " we ", other: "x" }),
      { namespace: "ns", phase: "Running", q: "we" },
    );
    assert.deepEqual(filtersFromQuery(new URLSearchParams("phase=Sleeping&team=ml")), {
      team: "ml",
    });
    assert.deepEqual(filtersFromQuery({ namespace: ["a", "b"] }), { namespace: "a" });
    assert.equal(pageFromQuery({ page: "3" }), 3);
    for (const page of ["0", "-1", "1.5", "x", undefined]) assert.equal(pageFromQuery({ page }), 1);
  });

  it("matches on every filter given", () => {
    const r = { ...row("web-1"), node: "n1" };
    assert.ok(matchesFilters(r, {}));
    assert.ok(matchesFilters(r, { namespace: "ns", team: "team-a", phase: "Running", node: "n1" }));
    assert.ok(matchesFilters(r, { q: "WEB" }));
    assert.ok(matchesFilters(r, { q: "ns/web" }));
    assert.ok(!matchesFilters(r, { q: "db" }));
    assert.ok(!matchesFilters(r, { phase: "Failed" }));
    assert.ok(!matchesFilters(r, { namespace: "other" }));
    assert.ok(!matchesFilters(r, { node: "n2" }));
  });
});

describe("the live table's rows", () => {
  const start = initialRows({ cursor: "ab12:10.all", rows: [row("a"), row("b")] });

  it("reads subscription ids with or without the scope suffix", () => {
    assert.deepEqual(parseCursor("ab12:10.all"), { epoch: "ab12", seq: 10 });
    assert.deepEqual(parseCursor("ab12:10.9f3a"), { epoch: "ab12", seq: 10 });
    assert.deepEqual(parseCursor("ab12:10"), { epoch: "ab12", seq: 10 });
    assert.equal(parseCursor("garbage"), undefined);
  });

  it("applies changes after the snapshot's cursor, in order", () => {
    let state = applyEvent(start, {
      id: "ab12:11.all",
      data: { type: "upsert", row: row("a", "Failed") },
    });
    state = applyEvent(state, { id: "ab12:12.all", data: { type: "remove", key: "ns/b" } });
    state = applyEvent(state, { id: "ab12:13.all", data: { type: "upsert", row: row("c") } });
    state = applyEvent(state, {
      id: "ab12:14.all",
      data: { type: "namespace", name: "ns", team: "team-b" },
    });
    assert.deepEqual(
      [...state.rows.values()].map((r) => `${r.name}:${r.phase}:${r.team}`),
      ["a:Failed:team-b", "c:Running:team-b"],
    );
    assert.equal(state.seq, 14);
  });

  it("drops a change the snapshot already holds (same epoch, not newer)", () => {
    const stale = applyEvent(start, {
      id: "ab12:9.all",
      data: { type: "upsert", row: row("a", "Starting") },
    });
    assert.equal(stale, start);
    assert.equal(
      applyEvent(start, { id: "ab12:10.all", data: { type: "remove", key: "ns/a" } }),
      start,
    );
  });

  it("replaces the whole table on a snapshot (a resync), whatever came before", () => {
    const state = applyEvent(start, {
      id: "cd34:3.all",
      data: { type: "snapshot", cursor: "cd34:3.all", rows: [row("z", "Suspended")] },
    });
    assert.deepEqual([...state.rows.keys()], ["ns/z"]);
    assert.deepEqual([state.epoch, state.seq], ["cd34", 3]);
    // After a restart's snapshot, the new epoch's changes apply even with smaller numbers.
    const next = applyEvent(state, {
      id: "cd34:4.all",
      data: { type: "upsert", row: row("y") },
    });
    assert.deepEqual([...next.rows.keys()], ["ns/z", "ns/y"]);
  });
});
