import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { testEnvironment, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { LeaderElector } from "./leader.ts";

const timings = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 250 };

/** Fires on every Lease read a replica makes and on every change of leadership. */
const changed = new EventEmitter();

/**
 * The test cluster's kubeconfig, counting this replica's Lease reads. Each
 * attempt to take or renew the lease starts with a read, so the count says
 * how many attempts a replica has made: the test waits on that, not on time.
 */
class CountingKubeConfig extends KubeConfig {
  leaseReads = 0;

  constructor() {
    super();
    this.loadFromFile(testEnvironment().kubeconfig);
  }

  override async applySecurityAuthentication(
    context: Parameters<KubeConfig["applySecurityAuthentication"]>[0],
  ): Promise<void> {
    await super.applySecurityAuthentication(context);
    if (context.getHttpMethod() === "GET" && context.getUrl().includes("/leases/")) {
      this.leaseReads++;
      changed.emit("change");
    }
  }
}

/** Waits until `condition` holds, looking again at each read or leadership change; bounded in time. */
async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  while (!condition()) {
    try {
      await once(changed, "change", { signal });
    } catch {
      throw new Error(`timed out waiting for ${what}`);
    }
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

  const replica = (identity: string, log: string[]) => {
    const counting = new CountingKubeConfig();
    const elector = new LeaderElector(counting, {
      namespace,
      name: "turgon-operator",
      identity,
      ...timings,
      onStartedLeading: () => {
        log.push(`${identity} leads`);
        changed.emit("change");
      },
      onStoppedLeading: () => {
        log.push(`${identity} stops`);
        changed.emit("change");
      },
    });
    return Object.assign(elector, { attempts: () => counting.leaseReads });
  };

  it("lets exactly one of two replicas lead, and hands over when the leader dies", async () => {
    const log: string[] = [];
    const a = replica("a", log);
    const b = replica("b", log);
    a.start();
    b.start();
    await until("a leader", () => a.isLeader || b.isLeader);
    // Several renew periods later (each replica has tried the lease four more times)
    // there is still exactly one leader.
    const [aFrom, bFrom] = [a.attempts(), b.attempts()];
    await until(
      "four more attempts by each replica",
      () => a.attempts() >= aFrom + 4 && b.attempts() >= bFrom + 4,
    );
    assert.equal(Number(a.isLeader) + Number(b.isLeader), 1);
    assert.equal(log.filter((line) => line.endsWith("leads")).length, 1, log.join(", "));
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
    // A second read means d's first attempt is over: it found the lease held and live.
    await until("d to try the held lease", () => b.attempts() >= 2);
    assert.equal(b.isLeader, false);
    await a.stop(true);
    const released = Date.now();
    await until("d to lead", () => b.isLeader);
    assert.ok(Date.now() - released < 2_000);
    await b.stop();
  });
});
