/** The change log's pure logic; cache.test.ts runs it behind real informers. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Change, ChangeLog, type Filter, type Resync } from "./changes.ts";

type Payload = { name: string };
type Event = Change<Payload> | Resync;

/** Takes `count` events from an iterator, failing if they do not come within a second. */
async function take(iterator: AsyncIterator<Event>, count: number): Promise<Event[]> {
  const events: Event[] = [];
  while (events.length < count) {
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`only ${events.length} of ${count} events came`)),
          1000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (next.done) break;
    events.push(next.value);
  }
  return events;
}

/**
 * Asserts that the iterator yields nothing within 50 ms (it waits for the
 * next change); returns its pending next() (wrapped: an async function
 * would wait for a returned promise).
 */
async function idle(
  iterator: AsyncIterator<Event>,
): Promise<{ next: Promise<IteratorResult<Event>> }> {
  const next = iterator.next();
  const first = await Promise.race([next.then(() => "event"), delay(50).then(() => "idle")]);
  assert.equal(first, "idle", "yielded when nothing had changed");
  return { next };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const names = (events: Event[]) =>
  events.map((e) => (e.type === "resync" ? `resync:${e.reason}` : e.name));

function sandbox(log: ChangeLog<Payload>, name: string, namespace: string, team = namespace) {
  return log.append({ type: "added", name, namespace, team });
}

describe("change log", () => {
  it("numbers changes in order, and resumes exactly after a cursor, then follows new ones", async () => {
    const log = new ChangeLog<Payload>(16, "ab12");
    assert.equal(log.cursor, "ab12:0");
    const changes = ["a", "b", "c", "d"].map((name) => sandbox(log, name, "ml"));
    assert.deepEqual(
      changes.map((c) => [c.id, c.seq]),
      [
        ["ab12:1", 1],
        ["ab12:2", 2],
        ["ab12:3", 3],
        ["ab12:4", 4],
      ],
    );
    const abort = new AbortController();
    const after2 = log.changesSince(changes[1]?.id, "all", { signal: abort.signal });
    assert.deepEqual(names(await take(after2, 2)), ["c", "d"]);
    const pending = await idle(after2);
    log.append({ type: "modified", name: "c", namespace: "ml", team: "ml" });
    log.append({ type: "deleted", name: "c", namespace: "ml", team: "ml" });
    const next = await pending.next;
    assert.equal(!next.done && next.value.type, "modified");
    const [deleted] = await take(after2, 1);
    assert.equal(deleted?.type, "deleted");
    assert.equal(deleted && "id" in deleted && deleted.id, "ab12:6");

    // From the start of the log, and from its end.
    assert.deepEqual(names(await take(log.changesSince("ab12:0", "all"), 6)), [
      "a",
      "b",
      "c",
      "d",
      "c",
      "c",
    ]);
    const fromEnd = log.changesSince(log.cursor, "all", { signal: abort.signal });
    const waiting = await idle(fromEnd);
    abort.abort();
    assert.equal((await waiting.next).done, true, "an abort ends a waiting subscriber");
    assert.equal((await after2.next()).done, true);
  });

  it("filters by namespaces or by teams; cluster-scoped objects only for all", async () => {
    const log = new ChangeLog<Payload>(16, "cd");
    sandbox(log, "a", "ml", "research");
    sandbox(log, "b", "web", "web");
    log.append({ type: "added", name: "node-1" });
    sandbox(log, "c", "ml-2", "research");
    const read = async (filter: Filter, count: number) =>
      names(await take(log.changesSince("cd:0", filter), count));
    assert.deepEqual(await read("all", 4), ["a", "b", "node-1", "c"]);
    assert.deepEqual(await read({ namespaces: ["ml", "web"] }, 2), ["a", "b"]);
    assert.deepEqual(await read({ teams: ["research"] }, 2), ["a", "c"]);
    // Nothing for a team holding none of them: the subscriber just waits.
    const abort = new AbortController();
    await idle(log.changesSince("cd:0", { teams: ["nobody"] }, { signal: abort.signal }));
    abort.abort();
  });

  it("asks for a resync for no cursor, another process's, one from the future, or one no longer buffered", async () => {
    const log = new ChangeLog<Payload>(4, "ef");
    for (const name of ["a", "b", "c", "d", "e", "f"]) sandbox(log, name, "ml");
    const first = async (cursor: string | undefined) =>
      names(await take(log.changesSince(cursor, "all"), 1));
    assert.deepEqual(await first(undefined), ["resync:unknown-cursor"]);
    assert.deepEqual(await first("0123:3"), ["resync:unknown-cursor"], "another epoch");
    assert.deepEqual(await first("ef:7"), ["resync:unknown-cursor"], "not yet");
    assert.deepEqual(await first("garbage"), ["resync:unknown-cursor"]);
    assert.deepEqual(await first("ef:1"), ["resync:expired"], "c is the oldest left");
    assert.deepEqual(names(await take(log.changesSince("ef:2", "all"), 4)), ["c", "d", "e", "f"]);
    assert.equal(log.position("ef:2"), 2);
    assert.equal(log.position("ef:1"), "expired");
  });

  it("a subscriber overtaken by more changes than the log holds is told to resync, not skipped ahead", async () => {
    const log = new ChangeLog<Payload>(3, "aa");
    sandbox(log, "a", "ml");
    const slow = log.changesSince("aa:0", "all");
    assert.deepEqual(names(await take(slow, 1)), ["a"]);
    for (const name of ["b", "c", "d", "e"]) sandbox(log, name, "ml");
    assert.deepEqual(names(await take(slow, 2)), ["resync:expired"]);
  });

  it("with a teams filter, a namespace moving into or out of the teams asks for a resync", async () => {
    const log = new ChangeLog<Payload>(16, "bb");
    sandbox(log, "a", "ml", "ml");
    // The namespace ml is bound to team research.
    log.append({
      type: "modified",
      name: "ml",
      namespace: "ml",
      team: "research",
      previousTeam: "ml",
    });
    sandbox(log, "b", "ml", "research");
    assert.deepEqual(names(await take(log.changesSince("bb:0", { teams: ["research"] }), 2)), [
      "resync:scope-changed",
    ]);
    assert.deepEqual(names(await take(log.changesSince("bb:0", { teams: ["ml"] }), 2)), [
      "a",
      "resync:scope-changed",
    ]);
    // Others, and a resume after the move, carry on.
    assert.deepEqual(names(await take(log.changesSince("bb:2", { teams: ["research"] }), 1)), [
      "b",
    ]);
    // Namespace filters and admins see the change itself.
    assert.deepEqual(names(await take(log.changesSince("bb:0", "all"), 3)), ["a", "ml", "b"]);
  });
});
