/**
 * The sandbox list's live updates off the wire: tRPC's SSE subscription
 * `sandboxes.watch` on the real dashboard, its informers on the real API
 * server. A reconnect with a Last-Event-ID from the middle of the stream
 * gets exactly the changes after it — none lost, none repeated, no
 * snapshot — and an id the dashboard cannot resume from gets a snapshot.
 * No VM: these sandboxes are never placed (no operator selects them).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { installCrds, kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { ARTIFACTS_DIR } from "./browser/chromium.ts";
import { apply, must, openSse, type SseEvent, signIn, trpcQuery } from "./sandboxes-support.ts";

interface Row {
  key: string;
  name: string;
  namespace: string;
  phase: string;
}
type ListEvent =
  | { type: "snapshot"; cursor: string; rows: Row[] }
  | { type: "upsert"; row: Row }
  | { type: "remove"; key: string }
  | { type: "namespace"; name: string; team: string };

const sandbox = (name: string, namespace: string) => ({
  apiVersion: "turgon.dev/v1alpha1",
  kind: "Sandbox",
  metadata: { name, namespace },
  spec: { image: "debian-python:latest" },
});

describe("sandboxes.watch over SSE", () => {
  let dashboard: TestDashboard;
  let cookie: string;
  const namespace = uniqueName("sse");

  before(async () => {
    await installCrds();
    dashboard = await startTestDashboard({
      logFile: join(ARTIFACTS_DIR, "sandboxes-stream-dashboard.log"),
    });
    cookie = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);
    await must(["create", "namespace", namespace]);
  });
  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await dashboard?.stop();
  });

  /** The next data event of our namespace (others' sandboxes and namespaces pass by). */
  const nextOurs = async (stream: { next(): Promise<SseEvent> }) => {
    for (;;) {
      const event = await stream.next();
      if (event.event !== undefined && event.event !== "message") continue; // connected, ping
      const data = (JSON.parse(event.data) as { json: ListEvent }).json;
      const ours =
        data.type === "snapshot" ||
        (data.type === "upsert" && data.row.namespace === namespace) ||
        (data.type === "remove" && data.key.startsWith(`${namespace}/`)) ||
        (data.type === "namespace" && data.name === namespace);
      if (ours) return { id: event.id as string, data };
    }
  };
  const describeEvent = (data: ListEvent) =>
    data.type === "snapshot"
      ? `snapshot(${data.rows
          .filter((r) => r.namespace === namespace)
          .map((r) => r.name)
          .join(",")})`
      : data.type === "upsert"
        ? `upsert ${data.row.name}`
        : data.type === "remove"
          ? `remove ${data.key.split("/")[1]}`
          : `namespace ${data.name}`;

  it("answers without a session with 401, and with a session lists what the cache holds", async () => {
    const refused = await trpcQuery(dashboard.url, undefined, "sandboxes.list");
    assert.equal(refused.status, 401);
    assert.equal(refused.error?.code, "UNAUTHORIZED");
    await apply(sandbox("one", namespace), "create");
    // The list comes from the informers: wait for the watch to bring the new object in.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const listed = await trpcQuery(dashboard.url, cookie, "sandboxes.list", { namespace });
      assert.equal(listed.status, 200, JSON.stringify(listed.error));
      const { rows, cursor } = listed.data as { rows: Row[]; cursor: string };
      assert.match(cursor, /^[0-9a-f]+:\d+\.all$/);
      if (rows.length === 1) {
        assert.deepEqual(
          rows.map((r) => [r.key, r.phase]),
          [[`${namespace}/one`, "Pending"]],
        );
        break;
      }
      assert.ok(Date.now() < deadline, `not listed in 20 s: ${JSON.stringify(rows)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it("a reconnect with Last-Event-ID from mid-stream gets exactly the later changes, in order", async () => {
    const first = await openSse(dashboard.url, cookie, "sandboxes.watch", {});
    const snapshot = await nextOurs(first);
    assert.equal(
      snapshot.data.type,
      "snapshot",
      "no lastEventId: the stream starts with a snapshot",
    );
    assert.equal(describeEvent(snapshot.data), "snapshot(one)");

    // Three changes while connected; remember the id of the first.
    await apply(sandbox("two", namespace), "create");
    const two = await nextOurs(first);
    assert.equal(describeEvent(two.data), "upsert two");
    await must(["label", "sandbox", "one", "-n", namespace, "colour=blue"]);
    await must(["delete", "sandbox", "two", "-n", namespace]);
    const seen = [await nextOurs(first), await nextOurs(first)];
    assert.deepEqual(
      seen.map((e) => describeEvent(e.data)),
      ["upsert one", "remove two"],
    );
    first.close();

    // One more while nobody listens.
    await apply(sandbox("three", namespace), "create");

    // Resume after "upsert two", as EventSource does (Last-Event-ID): no snapshot, nothing twice.
    const resumed = await openSse(
      dashboard.url,
      cookie,
      "sandboxes.watch",
      {},
      {
        lastEventId: two.id,
      },
    );
    const after = [await nextOurs(resumed), await nextOurs(resumed), await nextOurs(resumed)];
    assert.deepEqual(
      after.map((e) => describeEvent(e.data)),
      ["upsert one", "remove two", "upsert three"],
    );
    assert.deepEqual(
      after.slice(0, 2).map((e) => e.id),
      seen.map((e) => e.id),
      "the same changes under the same ids",
    );
    const seqs = [two, ...after].map((e) => Number(/:(\d+)\./.exec(e.id)?.[1]));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      "ids increase",
    );
    // Nothing else of ours is pending: the next change is the next event.
    await must(["delete", "sandbox", "three", "-n", namespace]);
    assert.equal(describeEvent((await nextOurs(resumed)).data), "remove three");
    resumed.close();

    // The same through the procedure's input (httpSubscriptionLink's reconnect), from the snapshot's cursor.
    const fromInput = await openSse(dashboard.url, cookie, "sandboxes.watch", {
      lastEventId: seen[1]?.id,
    });
    assert.equal(describeEvent((await nextOurs(fromInput)).data), "upsert three");
    assert.equal(describeEvent((await nextOurs(fromInput)).data), "remove three");
    fromInput.close();
  });

  it("an id it cannot resume from (another process's, or malformed) starts with a snapshot", async () => {
    for (const lastEventId of ["0123abcd:5.all", "garbage"]) {
      const stream = await openSse(dashboard.url, cookie, "sandboxes.watch", {}, { lastEventId });
      const first = await nextOurs(stream);
      assert.equal(first.data.type, "snapshot", lastEventId);
      assert.equal(describeEvent(first.data), "snapshot(one)");
      stream.close();
    }
  });
});
