import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { EgressAuditEvent } from "@turgon/api/audit";
import { AuditSpool } from "./spool.ts";

const event = (path: string): EgressAuditEvent => ({
  id: randomUUID(),
  time: new Date().toISOString(),
  node: "n1",
  sandbox: { uid: "u", name: "s", namespace: "ns" },
  method: "GET",
  scheme: "https",
  host: "example.test",
  port: 443,
  path,
  status: 200,
  decision: "allowed",
  reason: "allowed by policy",
  policy: null,
  secretsInjected: [],
  bytesSent: 0,
  bytesReceived: 2,
  durationMs: 1,
});

describe("AuditSpool", async () => {
  const root = await mkdtemp(join(tmpdir(), "turgon-spool-"));
  after(() => rm(root, { recursive: true, force: true }));

  it("rotates segments and reads across them from a persisted checkpoint", async () => {
    const spool = new AuditSpool({ dir: join(root, "a"), maxSegmentBytes: 1024 });
    await spool.open();
    for (let i = 0; i < 20; i++) await spool.append(event(`/e${i}`));
    assert.ok((await spool.segments()).length > 3, "several segments");
    const first = await spool.read(await spool.loadCheckpoint(), 7);
    assert.deepEqual(
      first.events.map((l) => JSON.parse(l).path),
      Array.from({ length: 7 }, (_, i) => `/e${i}`),
    );
    await spool.saveCheckpoint(first.next);
    await spool.close();

    // A new spool on the same directory (an agent restart) resumes after the checkpoint.
    const reopened = new AuditSpool({ dir: join(root, "a"), maxSegmentBytes: 1024 });
    await reopened.open();
    const rest = await reopened.read(await reopened.loadCheckpoint(), 100);
    assert.deepEqual(
      rest.events.map((l) => JSON.parse(l).path),
      Array.from({ length: 13 }, (_, i) => `/e${i + 7}`),
    );
    await reopened.release(rest.next);
    assert.deepEqual(
      await reopened.segments(),
      [rest.next.segment],
      "delivered segments are deleted",
    );
    await reopened.close();
  });

  // A segment that the writer filled and closed while the reader read it used
  // to be passed over with its last lines unread (found by the audit worker's
  // fault tests: one event in 2,500 lost). The interleaving is timing-bound:
  // with a 3 ms pause injected after read()'s readFile, this test lost ~50
  // of 600 lines before the fix, and none after.
  it("counts its backlog from the persisted checkpoint, across segments, down to 0 once delivered", async () => {
    const spool = new AuditSpool({ dir: join(root, "backlog"), maxSegmentBytes: 1024 });
    await spool.open();
    assert.equal(await spool.backlogBytes(), 0);
    for (let i = 0; i < 12; i++) await spool.append(event(`/b${i}`));
    await spool.sync();
    const sizes = await Promise.all(
      (await spool.segments()).map(async (n) => {
        const name = `segment-${String(n).padStart(12, "0")}.ndjson`;
        return (await stat(join(spool.dir, name))).size;
      }),
    );
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(sizes.length > 1, "several segments");
    assert.equal(await spool.backlogBytes(), total, "all of it waits");
    const some = await spool.read(await spool.loadCheckpoint(), 5);
    await spool.saveCheckpoint(some.next);
    await spool.release(some.next);
    const read = some.events.reduce((bytes, line) => bytes + Buffer.byteLength(line) + 1, 0);
    assert.equal(await spool.backlogBytes(), total - read, "what was read is no longer waiting");
    const rest = await spool.read(some.next, 100);
    await spool.saveCheckpoint(rest.next);
    await spool.release(rest.next);
    assert.equal(rest.events.length, 7);
    assert.equal(await spool.backlogBytes(), 0);
    await spool.close();
  });

  it("reads every line once while the writer rotates segments under it", async () => {
    const spool = new AuditSpool({ dir: join(root, "race"), maxSegmentBytes: 2048 });
    await spool.open();
    const total = 600;
    const writing = (async () => {
      for (let i = 0; i < total; i++) await spool.append(event(`/r${i}`));
    })();
    const seen: string[] = [];
    let checkpoint = await spool.loadCheckpoint();
    let done = false;
    void writing.then(() => {
      done = true;
    });
    // Bounded: each round reads what is there; the writer finishes in a few seconds.
    for (let round = 0; round < 1_000_000 && (!done || seen.length < total); round++) {
      const { events, next } = await spool.read(checkpoint, 50);
      for (const line of events) seen.push((JSON.parse(line) as EgressAuditEvent).path);
      checkpoint = next;
      if (done && events.length === 0) break;
    }
    await writing;
    const { events: rest } = await spool.read(checkpoint, total);
    for (const line of rest) seen.push((JSON.parse(line) as EgressAuditEvent).path);
    assert.equal(seen.length, total, "no line skipped at a rotation");
    assert.equal(new Set(seen).size, total, "none read twice");
    await spool.close();
  });

  it("stays within its bound by dropping the oldest segments, and says how many events it dropped", async () => {
    const spool = new AuditSpool({
      dir: join(root, "b"),
      maxSegmentBytes: 1024,
      maxTotalBytes: 4096,
    });
    let dropped = 0;
    spool.on("dropped", (count) => {
      dropped += count;
    });
    await spool.open();
    for (let i = 0; i < 60; i++) await spool.append(event(`/e${i}`));
    const files = (await readdir(join(root, "b"))).filter((f) => f.endsWith(".ndjson"));
    let bytes = 0;
    for (const file of files) bytes += (await stat(join(root, "b", file))).size;
    // The closed segments stay within the bound; the one being written may add up to a segment.
    assert.ok(bytes <= 4096 + 1024, `${bytes} bytes in ${files.length} segments`);
    assert.ok(dropped > 0);
    const { events } = await spool.read(await spool.loadCheckpoint(), 1000);
    assert.equal(events.length + dropped, 60, "every event is either kept or counted as dropped");
    assert.equal(JSON.parse(events.at(-1) ?? "{}").path, "/e59", "the newest events are kept");
    await spool.close();
  });

  it("reads a spool another process writes (a supervisor's), across its rotations, from the reader's checkpoint", async () => {
    const dir = join(root, "supervised");
    const writer = new AuditSpool({ dir, maxSegmentBytes: 1024 });
    const reader = new AuditSpool({ dir, readOnly: true });
    assert.deepEqual(await reader.read({ segment: 0, offset: 0 }, 10), {
      events: [],
      next: { segment: 0, offset: 0 },
    });
    await writer.open();
    const read: string[] = [];
    let checkpoint = await reader.loadCheckpoint();
    for (let i = 0; i < 30; i++) {
      await writer.append(event(`/w${i}`));
      if (i % 7 === 0) {
        const { events, next } = await reader.read(checkpoint, 3);
        read.push(...events.map((l) => JSON.parse(l).path));
        await reader.saveCheckpoint(next);
        await reader.release(next);
        checkpoint = next;
      }
    }
    for (let round = 0; round < 40; round++) {
      const { events, next } = await reader.read(checkpoint, 5);
      if (events.length === 0) break;
      read.push(...events.map((l) => JSON.parse(l).path));
      await reader.release(next);
      checkpoint = next;
    }
    assert.deepEqual(
      read,
      Array.from({ length: 30 }, (_, i) => `/w${i}`),
      "every event once, in order",
    );
    // The writer's open segment is never released under it.
    await writer.append(event("/after"));
    const { events } = await reader.read(checkpoint, 5);
    assert.deepEqual(
      events.map((l) => JSON.parse(l).path),
      ["/after"],
    );
    await writer.close();
  });
});
