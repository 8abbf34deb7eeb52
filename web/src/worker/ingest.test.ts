/** Pure logic of the worker: parsing batches, the backoff, retention arithmetic, flags. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cappedBackoffMs } from "./backoff.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { parseBatch, parseBatchLines, redactRawLine, splitByTime, toRow } from "./egress-ingest.ts";
import { sessionKind } from "./exec-ingest.ts";
import { addDays, dayExpired, retentionCutoff, utcDay } from "./partitions.ts";
import { syntheticEvent } from "./synthetic-producer.ts";

describe("an egress batch", () => {
  it("keeps valid lines, dead-letters the rest with reasons, and dedupes repeated ids", () => {
    const event = syntheticEvent(0, { node: "n" });
    const parsed = parseBatchLines([
      JSON.stringify(event),
      JSON.stringify(event),
      "{",
      JSON.stringify({ ...event, port: 70000 }),
    ]);
    assert.equal(parsed.events.length, 1);
    assert.deepEqual(
      parsed.deadLetters.map((d) => d.reason.split(":")[0]),
      ["not JSON", "not an EgressAuditEvent"],
    );
    assert.match(parsed.deadLetters[1]?.reason ?? "", /port: Too big/);
  });

  it("never keeps a query string or an unknown field's value in a dead letter", () => {
    const event = syntheticEvent(0, { node: "n" });
    const [letter] = parseBatchLines([
      JSON.stringify({ ...event, path: "/a?key=hunter2", cookie: "sid=hunter2" }),
    ]).deadLetters;
    assert.doesNotMatch(letter?.payload ?? "", /hunter2/);
    assert.match(letter?.payload ?? "", /"path":"\/a\?\[query removed\]"/);
    assert.doesNotMatch(redactRawLine('{"path":"/x?token=hunter2 "'), /hunter2/);
    assert.ok(redactRawLine("x".repeat(10_000)).length < 4200, "long lines are cut");
  });

  it("is an AuditBatch, or is dead-lettered whole", () => {
    assert.equal(parseBatch({ node: "n", lines: ["{}"] }).ok, true);
    const bad = parseBatch({ node: "n", lines: [] });
    assert.ok(!bad.ok && /^not an AuditBatch: lines: Too small/.test(bad.letter.reason));
  });

  it("maps an event to its row, secrets by name", () => {
    const event = syntheticEvent(10, { node: "n", namespace: "ns", sandbox: "box" });
    const row = toRow(event, "team-a");
    assert.equal(row.namespace, "ns");
    assert.equal(row.sandbox, "box");
    assert.equal(row.team, "team-a");
    assert.deepEqual(row.secrets, ["GITHUB_TOKEN"]);
  });
});

describe("an event's time", () => {
  it("is stored within retention, counted past it, and dead-lettered a day or more ahead", () => {
    const now = new Date("2026-12-01T10:00:00Z");
    const at = (iso: string) => syntheticEvent(0, { node: "n", time: () => new Date(iso) });
    const { kept, expired, future } = splitByTime(
      [
        at("2026-12-01T09:00:00Z"),
        at("2026-11-01T00:00:00Z"),
        at("2026-10-31T23:59:59Z"),
        at("2026-12-02T09:00:00Z"),
        at("2027-06-01T00:00:00Z"),
      ],
      now,
      30,
    );
    assert.deepEqual(
      kept.map((e) => e.time),
      ["2026-12-01T09:00:00.000Z", "2026-11-01T00:00:00.000Z", "2026-12-02T09:00:00.000Z"],
    );
    assert.equal(expired, 1);
    assert.equal(future.length, 1);
    assert.match(future[0]?.reason ?? "", /more than a day ahead/);
  });
});

describe("the capped backoff", () => {
  it("doubles from 500 ms up to the cap, with jitter between half and all of it", () => {
    const low = () => 0;
    const high = () => 1;
    assert.equal(cappedBackoffMs(1, 30_000, high), 500);
    assert.equal(cappedBackoffMs(1, 30_000, low), 250);
    assert.equal(cappedBackoffMs(4, 30_000, high), 4000);
    assert.equal(cappedBackoffMs(20, 30_000, high), 30_000);
    assert.equal(cappedBackoffMs(1_000_000, 30_000, low), 15_000);
  });
});

describe("retention arithmetic", () => {
  it("expires a day only once all of it is before now − retention", () => {
    const now = new Date("2026-12-01T10:00:00Z");
    const cutoff = retentionCutoff(now, 30);
    assert.equal(utcDay(cutoff), "2026-11-01");
    assert.equal(dayExpired("2026-10-31", cutoff), true);
    assert.equal(dayExpired("2026-11-01", cutoff), false);
    assert.equal(addDays("2026-12-31", 1), "2027-01-01");
  });
});

describe("exec sessions", () => {
  it("are SSH by job name or by an ssh- reason", () => {
    const base = { reason: "exited" } as Parameters<typeof sessionKind>[1];
    assert.equal(sessionKind("exec", base), "exec");
    assert.equal(sessionKind("ssh", base), "ssh");
    assert.equal(sessionKind("exec", { ...base, reason: "ssh-client-closed" }), "ssh");
  });
});

describe("flags", () => {
  it("read flags over environment over defaults", () => {
    const config = loadConfig(["--retention-days", "7"], {
      DATABASE_URL: "postgresql://u:p@127.0.0.1:5432/db",
      REDIS_URL: "redis://127.0.0.1:6379",
      TURGON_AUDIT_CONCURRENCY: "2",
    });
    assert.equal(config["retention-days"], 7);
    assert.equal(config.concurrency, 2);
    assert.equal(config["max-stalled-count"], 1_000_000);
  });

  it("name the bad flag and its variable, without echoing the value", () => {
    assert.throws(
      () => loadConfig(["--database-url", "mysql://u:hunter2@x/db", "--redis-url", "redis://x"]),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--database-url \(DATABASE_URL\)/.test(error.message) &&
        !error.message.includes("hunter2"),
    );
  });
});
