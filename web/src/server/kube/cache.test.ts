/**
 * The dashboard's cache and change log behind real informers: its own
 * identity (web/deploy/rbac.yaml) lists and watches; objects are written
 * by the platform's admin with kubectl, as users would.
 */
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TEAM_LABEL } from "@turgon/api/routing";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { filterFor, KubeCache, type KubeChange, type StreamEvent } from "./cache.ts";
import type { Filter, Resync } from "./changes.ts";
import { dashboardKubeConfig, installWebRbac, must } from "./testing.ts";

const sandboxJson = (name: string, namespace: string) =>
  JSON.stringify({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace },
    spec: { image: "debian-python:latest" },
  });

async function createSandbox(name: string, namespace: string): Promise<void> {
  // From a file: the test platform's kubectl runner passes no stdin.
  const file = join(tmpdir(), `${uniqueName("sandbox")}.json`);
  await writeFile(file, sandboxJson(name, namespace));
  try {
    await must(["create", "-f", file]);
  } finally {
    await rm(file, { force: true });
  }
}

/** Reads events from an iterator until `done` says so (or fails after 20 s, saying what came). */
async function until<T>(
  iterator: AsyncIterator<T>,
  done: (seen: T[]) => boolean,
  timeoutMs = 20_000,
): Promise<T[]> {
  const seen: T[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!done(seen)) {
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      iterator.next(),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(deadline - Date.now(), 0));
      }),
    ]).finally(() => clearTimeout(timer));
    if (next === "timeout")
      assert.fail(`timed out; saw ${JSON.stringify(seen.map(describeEvent))}`);
    if (next.done) break;
    seen.push(next.value);
  }
  return seen;
}

const describeEvent = (event: unknown) => {
  const e = event as StreamEvent | Resync;
  if (e.type === "resync") return `resync:${e.reason}`;
  if (e.type === "snapshot") return `snapshot:${e.sandboxes.map((s) => s.metadata.name).join(",")}`;
  return `${e.type}:${e.kind}:${e.namespace ?? ""}/${e.name}`;
};

const isChange = (event: unknown): event is KubeChange => {
  const type = (event as { type: string }).type;
  return type === "added" || type === "modified" || type === "deleted";
};

describe("kube cache and change log on the real API server", () => {
  const nsA = uniqueName("cache-a");
  const nsB = uniqueName("cache-b");
  const teamA = uniqueName("ta");
  const teamC = uniqueName("tc");
  let cache: KubeCache;
  const abort = new AbortController();
  const { signal } = abort;

  before(async () => {
    await installWebRbac();
    await must(["create", "namespace", nsA]);
    await must(["create", "namespace", nsB]);
    await must(["label", "namespace", nsA, `${TEAM_LABEL}=${teamA}`]);
    cache = await KubeCache.start(await dashboardKubeConfig(), { capacity: 64 });
  });

  after(async () => {
    abort.abort();
    await cache?.stop();
    await kubectl(["delete", "namespace", nsA, nsB, "--wait=false"]);
  });

  it("delivers a sandbox's create, update and delete in order, once each; changesSince resumes exactly after a given id", async () => {
    const start = cache.cursor;
    const inA: Filter = { namespaces: [nsA] };
    const live = cache.changesSince(start, inA, { signal });
    await createSandbox("life", nsA);
    await must(["label", "sandbox", "life", "-n", nsA, "stage=two"]);
    await must(["delete", "sandbox", "life", "-n", nsA]);
    const events = (await until(live, (seen) => seen.some((e) => e.type === "deleted"))).filter(
      isChange,
    );
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.name}`),
      ["added:life", "modified:life", "deleted:life"],
    );
    assert.equal(events[1]?.kind === "Sandbox" && events[1].object.metadata.labels?.stage, "two");
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      "in order",
    );
    assert.equal(events[0]?.team, teamA, "recorded under its namespace's team");

    // Resuming after the create yields exactly the update and the delete, with the same ids.
    const resumed = (
      await until(cache.changesSince(events[0]?.id, inA, { signal }), (seen) => seen.length === 2)
    ).filter(isChange);
    assert.deepEqual(
      resumed.map((e) => e.id),
      events.slice(1).map((e) => e.id),
    );
    // And after the delete, nothing until something new happens in nsA.
    const quiet = cache.changesSince(events[2]?.id, inA, { signal });
    await createSandbox("next", nsA);
    const [next] = (await until(quiet, (seen) => seen.length === 1)).filter(isChange);
    assert.equal(`${next?.type}:${next?.name}`, "added:next");
  });

  it("filters by namespaces and by team, in snapshots and changes; nodes and other namespaces only for admins", async () => {
    await createSandbox("b1", nsB);
    await createSandbox("a2", nsA);
    const teamOnly = filterFor({ teams: [teamA], admin: false });
    const admin = filterFor({ teams: [], admin: true });
    assert.equal(admin, "all");
    const names = (filter: Filter) =>
      cache
        .snapshot(filter)
        .sandboxes.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
        .filter((key) => key.startsWith(nsA) || key.startsWith(nsB));
    // The informers may lag kubectl by a moment.
    const deadline = Date.now() + 10_000;
    while (names("all").length < 3 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(names(teamOnly), [`${nsA}/a2`, `${nsA}/next`]);
    assert.deepEqual(names({ namespaces: [nsB] }), [`${nsB}/b1`]);
    assert.deepEqual(names("all"), [`${nsA}/a2`, `${nsA}/next`, `${nsB}/b1`]);
    const snapshot = cache.snapshot(teamOnly);
    assert.deepEqual(
      snapshot.namespaces.map((n) => n.metadata?.name),
      [nsA],
    );
    assert.deepEqual(snapshot.nodes, [], "SandboxNodes are for admins");
    assert.match(snapshot.id, /^[0-9a-f]+:\d+$/);
    assert.equal(cache.teamOf(nsA), teamA);
    assert.equal(cache.teamOf(nsB), nsB, "unlabelled: its name");
    assert.deepEqual(cache.namespacesOf([teamA]), [nsA]);

    // Changes: a member of team A sees A's, not B's.
    const changes = cache.changesSince(snapshot.id, teamOnly, { signal });
    await must(["label", "sandbox", "b1", "-n", nsB, "seen=no"]);
    await must(["label", "sandbox", "a2", "-n", nsA, "seen=yes"]);
    const seen = (await until(changes, (s) => s.length === 1)).filter(isChange);
    assert.deepEqual(
      seen.map((e) => `${e.namespace}/${e.name}`),
      [`${nsA}/a2`],
    );
  });

  it("a stream starts with a snapshot, resumes from its last id without one, and sends a fresh snapshot when a namespace is bound to the subscriber's team", async () => {
    const team: Filter = { teams: [teamC] };
    const stream = cache.stream(undefined, team, { signal });
    const [first] = await until(stream, (s) => s.length === 1);
    assert.equal(first?.type, "snapshot");
    assert.equal(
      first?.type === "snapshot" && first.sandboxes.length,
      0,
      "team C holds nothing yet",
    );

    // An admin binds nsB to team C: its sandboxes come into view at once, as a snapshot.
    await must(["label", "namespace", nsB, `${TEAM_LABEL}=${teamC}`]);
    const [again] = await until(stream, (s) => s.length === 1);
    assert.equal(again?.type, "snapshot", describeEvent(again));
    assert.deepEqual(again?.type === "snapshot" && again.sandboxes.map((s) => s.metadata.name), [
      "b1",
    ]);
    await must(["label", "sandbox", "b1", "-n", nsB, "seen=yes", "--overwrite"]);
    const [change] = await until(stream, (s) => s.length === 1);
    assert.equal(describeEvent(change), `modified:Sandbox:${nsB}/b1`);

    // A reconnect with the last id it saw: no snapshot, just what came after.
    const lastEventId = (change as KubeChange).id;
    const reconnected = cache.stream(lastEventId, team, { signal });
    await createSandbox("b2", nsB);
    const [fresh] = await until(reconnected, (s) => s.length === 1);
    assert.equal(describeEvent(fresh), `added:Sandbox:${nsB}/b2`);
    // One from before the dashboard restarted (another epoch): a snapshot first.
    const [restart] = await until(cache.stream("0:1", team, { signal }), (s) => s.length === 1);
    assert.equal(describeEvent(restart), "snapshot:b1,b2");

    // Unbound again: out of view, again as a snapshot.
    await must(["label", "namespace", nsB, `${TEAM_LABEL}-`]);
    const events = await until(stream, (s) => s.some((e) => e.type === "snapshot"));
    assert.equal(describeEvent(events.at(-1)), "snapshot:");
  });

  it("says resync when the id is too old for the log", async () => {
    const small = await KubeCache.start(await dashboardKubeConfig(), { capacity: 3 });
    try {
      const old = small.cursor;
      for (let i = 0; i < 4; i++)
        await must(["label", "sandbox", "a2", "-n", nsA, `n=${i}`, "--overwrite"]);
      const deadline = Date.now() + 10_000;
      while (small.changes.position(old) !== "expired" && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const [event] = await until(
        small.changesSince(old, "all", { signal }),
        (s) => s.length === 1,
      );
      assert.deepEqual(event, { type: "resync", reason: "expired" });
      // A stream from there starts over with a snapshot that has every sandbox as it is now.
      const [snapshot] = await until(small.stream(old, "all", { signal }), (s) => s.length === 1);
      assert.equal(snapshot?.type, "snapshot");
      const sandboxes = snapshot?.type === "snapshot" ? snapshot.sandboxes : [];
      const a2 = sandboxes.find((s) => s.metadata.name === "a2" && s.metadata.namespace === nsA);
      assert.equal(a2?.metadata.labels?.n, "3");
    } finally {
      await small.stop();
    }
  });
});
