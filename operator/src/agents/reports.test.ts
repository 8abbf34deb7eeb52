import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ObservedSandbox } from "@turgon/api/agent";
import { AgentReports } from "./reports.ts";

const booting: ObservedSandbox = {
  uid: "0b6f3c2e-1d7a-4a8e-9f00-000000000001",
  name: "one",
  namespace: "team",
  generation: 1,
  phase: "Booting",
  routes: [],
  secretNames: [],
};

describe("AgentReports", () => {
  it("tells a new report from a repeat of the last one", () => {
    const reports = new AgentReports();
    assert.equal(reports.record(booting), true, "the first report is news");
    assert.equal(reports.record(structuredClone(booting)), false, "the echo is not");
    const running = { ...booting, phase: "Running" as const, startedAt: "2026-12-01T00:00:00Z" };
    assert.equal(reports.record(running), true);
    assert.equal(reports.record({ ...running, lastActivityAt: "2026-12-01T00:01:00Z" }), true);
    assert.equal(reports.record(booting), true, "going back is a change too");
  });

  it("keeps sandboxes apart and forgets them", () => {
    const reports = new AgentReports();
    reports.record(booting);
    const other = { ...booting, uid: "0b6f3c2e-1d7a-4a8e-9f00-000000000002" };
    assert.equal(reports.record(other), true);
    reports.forget(booting.uid);
    assert.equal(reports.record(booting), true, "forgotten: news again");
  });
});
