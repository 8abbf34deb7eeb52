import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { LeaderElector } from "./leader.ts";

const timings = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 250 };

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("leader election on a Lease", () => {
  const kc = testKubeConfig();
  const namespace = uniqueName("lease");
  before(() =>
    kc
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: namespace } } })
      .then(() => {}),
  );
  after(() =>
    kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: namespace })
      .then(() => {}),
  );

  const replica = (identity: string, log: string[]) =>
    new LeaderElector(kc, {
      namespace,
      name: "turgon-operator",
      identity,
      ...timings,
      onStartedLeading: () => log.push(`${identity} leads`),
      onStoppedLeading: () => log.push(`${identity} stops`),
    });

  it("lets exactly one of two replicas lead, and hands over when the leader dies", async () => {
    const log: string[] = [];
    const a = replica("a", log);
    const b = replica("b", log);
    a.start();
    b.start();
    await until("a leader", () => a.isLeader || b.isLeader);
    // Several renew periods later there is still exactly one leader.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(Number(a.isLeader) + Number(b.isLeader), 1);
    const [leader, follower] = a.isLeader ? [a, b] : [b, a];

    // The leader dies without releasing the lease: the follower waits for it to expire.
    const died = Date.now();
    await leader.stop(false);
    await until("the follower to take over", () => follower.isLeader);
    const takeover = Date.now() - died;
    assert.ok(
      takeover >= 1_000,
      `took over after ${takeover} ms, not before the lease could expire`,
    );
    await follower.stop();
    assert.equal(log.filter((line) => line.endsWith("leads")).length, 2);
  });

  it("takes over at once when the leader releases the lease", async () => {
    const log: string[] = [];
    const a = replica("c", log);
    a.start();
    await until("c to lead", () => a.isLeader);
    const b = replica("d", log);
    b.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(b.isLeader, false);
    await a.stop(true);
    const released = Date.now();
    await until("d to lead", () => b.isLeader);
    assert.ok(Date.now() - released < 2_000);
    await b.stop();
  });
});
