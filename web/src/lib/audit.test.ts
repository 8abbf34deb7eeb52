import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AuditFilter,
  compareEgress,
  type EgressRow,
  egressCursorOf,
  filterFromQuery,
  filterToQuery,
  hostLikePattern,
  parseEgressCursor,
  sessionFilterFromQuery,
  windowOf,
} from "./audit.ts";

describe("audit filters in the URL", () => {
  it("round-trips a filter through the URL query", () => {
    const query =
      "range=custom&from=2026-11-30T10%3A00%3A00.000Z&to=2026-11-30T11%3A00%3A00.000Z&team=team-a&namespace=ns-a&sandbox=web&host=*.github.com&method=POST&decision=denied&status=4xx&secret=GITHUB_TOKEN";
    const { filter, errors } = filterFromQuery(new URLSearchParams(query));
    assert.deepEqual(errors, {});
    assert.equal(filterToQuery(filter), query);
  });

  it("leaves the default range out of links and applies it when absent", () => {
    const { filter } = filterFromQuery({});
    assert.equal(filter.range, "24h");
    assert.equal(filterToQuery(filter), "");
  });

  it("names each bad parameter, drops it, and keeps the rest", () => {
    const { filter, errors } = filterFromQuery({
      host: "no spaces allowed",
      decision: "maybe",
      status: "6xx",
      namespace: "Not_A_Label",
      method: "get",
      range: "2y",
    });
    assert.deepEqual(Object.keys(errors).sort(), [
      "decision",
      "host",
      "namespace",
      "range",
      "status",
    ]);
    assert.match(errors.decision ?? "", /allowed, denied, would-deny/);
    assert.deepEqual(filter, { range: "24h", method: "GET" });
  });

  it("requires from with a custom range, and to after from", () => {
    assert.ok(filterFromQuery({ range: "custom" }).errors.from);
    const backwards = filterFromQuery({
      range: "custom",
      from: "2026-11-30T11:00:00Z",
      to: "2026-11-30T10:00:00Z",
    });
    assert.ok(backwards.errors.to);
    assert.equal(backwards.filter.range, "24h");
    assert.ok(filterFromQuery({ range: "1h", from: "2026-11-30T11:00:00Z" }).errors.from);
    const parsed = AuditFilter.safeParse({ range: "custom" });
    assert.equal(parsed.success, false);
    assert.deepEqual(
      parsed.error?.issues.map((i) => i.path),
      [["from"]],
    );
  });

  it("parses the sessions tab's filter with its own kind", () => {
    const { filter, errors } = sessionFilterFromQuery({ kind: "ssh", host: "ignored.example.com" });
    assert.deepEqual(errors, {});
    assert.deepEqual(filter, { range: "24h", kind: "ssh" });
    assert.ok(sessionFilterFromQuery({ kind: "telnet" }).errors.kind);
  });
});

describe("audit filter helpers", () => {
  it("turns * into % and escapes LIKE's own wildcards", () => {
    assert.equal(hostLikePattern("api.github.com"), null);
    assert.equal(hostLikePattern("*.github.com"), "%.github.com");
    assert.equal(hostLikePattern("a_b%*\\"), "a\\_b\\%%\\\\");
    assert.equal(hostLikePattern("**x"), "%x");
  });

  it("resolves presets against now and custom windows as given", () => {
    const now = new Date("2026-12-01T12:00:00Z");
    assert.deepEqual(windowOf({ range: "15m" }, now), {
      from: new Date("2026-12-01T11:45:00Z"),
      to: null,
    });
    assert.deepEqual(
      windowOf({ range: "custom", from: "2026-11-01T00:00:00Z", to: "2026-11-02T00:00:00Z" }, now),
      { from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-11-02T00:00:00Z") },
    );
  });

  it("keeps keyset cursors exact and sorts newest first, then by seq", () => {
    const row = { time: "2026-12-01T12:00:00.123Z", seq: "9007199254740993" };
    assert.equal(egressCursorOf(row), "1796126400123_9007199254740993");
    const back = parseEgressCursor(egressCursorOf(row));
    assert.equal(back.time.toISOString(), row.time);
    assert.equal(back.seq, row.seq);
    const rows = [
      { time: "2026-12-01T12:00:00.000Z", seq: "1" },
      { time: "2026-12-01T12:00:00.000Z", seq: "10" },
      { time: "2026-12-01T12:00:01.000Z", seq: "2" },
    ] as EgressRow[];
    assert.deepEqual(
      [...rows].sort(compareEgress).map((r) => r.seq),
      ["2", "10", "1"],
    );
  });
});
