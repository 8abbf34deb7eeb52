/**
 * Warm pools on the simulated runtime (no process, no VM): the pool logic
 * as the agent's manager runs it — boot to replicas one at a time, claim,
 * refill, capacity (warm VMs count and yield to sandboxes that must boot),
 * shape changes and cold fallbacks. The real-VM test is warm-vm.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type {
  DesiredSandboxInput,
  DesiredWarmPool,
  ObservedWarmPool,
  SandboxEvent,
  WarmPoolEvent,
} from "@turgon/api/agent";
import { DesiredSandbox } from "@turgon/api/agent";
import { logger } from "../logger.ts";
import { SandboxManager } from "../sandboxes/manager.ts";
import { nodeVmContext } from "../sandboxes/node-vm.ts";
import { ClaimRefused } from "../sandboxes/sandbox.ts";
import { Checkpoints } from "../state/checkpoints.ts";
import { VmRecords } from "../state/vm-records.ts";
import { SimulatedRuntime } from "../vm/simulated.ts";
import { claimable, warmPlaceholder } from "./pools.ts";

const BOOT_MS = 40;

/** Polls `check` until it holds (every 10 ms, at most `timeoutMs`). */
async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("warm pools (simulated runtime)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-warm-"));
  let manager: SandboxManager;
  const sandboxEvents: SandboxEvent[] = [];
  const poolEvents: WarmPoolEvent[] = [];
  const claims: { pool: string; seconds: number }[] = [];

  const pool = (overrides: Partial<DesiredWarmPool> = {}): DesiredWarmPool => ({
    uid: randomUUID(),
    name: "web",
    namespace: "team-a",
    generation: 1,
    image: "not-in-any-store:simulated",
    resources: { cpus: 1, memoryMiB: 512 },
    replicas: 2,
    ...overrides,
  });
  const sandbox = (poolUid: string, overrides: Partial<DesiredSandboxInput> = {}) =>
    DesiredSandbox.parse({
      uid: randomUUID(),
      name: "app",
      namespace: "team-a",
      generation: 1,
      image: "not-in-any-store:simulated",
      resources: { cpus: 1, memoryMiB: 512 },
      env: { GREETING: "hello" },
      command: ["python3", "-m", "http.server", "8000"],
      ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
      policy: {
        allowedHosts: ["api.example.com"],
        secrets: [{ name: "API_TOKEN", hosts: ["api.example.com"], value: "s3cr3t-value" }],
      },
      warmPool: { uid: poolUid },
      ...overrides,
    } satisfies DesiredSandboxInput);
  const observed = (uid: string): ObservedWarmPool => {
    const found = manager.warm.get(uid);
    assert.ok(found, `pool ${uid} is known`);
    return found;
  };
  const ready = (uid: string, count: number) =>
    until(`${count} ready in pool ${uid}`, () => {
      const p = manager.warm.get(uid);
      return p?.readyReplicas === count && p.replicas === count;
    });

  before(() => {
    manager = new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 4 },
      log: logger.child({ test: "warm-pools" }, { level: "error" }),
      onClaim: (name, seconds) => claims.push({ pool: name, seconds }),
      warm: { retryFirstMs: 50, retryMaxMs: 200 },
      inProcess: {
        ...nodeVmContext(
          {
            nodeName: "warm-node",
            accelerator: "tcg",
            tcgTranslationCacheMiB: 32,
            ingressHeaderTimeoutMs: 5_000,
            platformCidrs: [],
          },
          new SimulatedRuntime({ bootMs: BOOT_MS }),
        ),
        records: new VmRecords(dir),
        checkpoints: new Checkpoints(dir),
        audit: () => {},
      },
    });
    manager.on("event", (event) => sandboxEvents.push(event));
    manager.on("warmPool", (event) => poolEvents.push(event));
  });

  after(async () => {
    await manager?.stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it("boots a pool to its replicas, counts its VMs against capacity and reports them as events", async () => {
    const desired = pool();
    assert.equal(manager.putWarmPool(desired), "created");
    assert.equal(manager.putWarmPool(desired), "unchanged");
    // One boot at a time: never two booting at once.
    let most = 0;
    await until("2 ready", () => {
      const booting = manager.warm.handles().filter((h) => h.phase === "Booting").length;
      most = Math.max(most, booting);
      return observed(desired.uid).readyReplicas === 2;
    });
    assert.equal(most, 1, "warm VMs boot one at a time");
    assert.deepEqual(manager.free(), { cpus: 6, memoryMiB: 7168, vms: 2 });
    assert.deepEqual(manager.list(), [], "warm VMs are no sandboxes");
    assert.equal(sandboxEvents.length, 0, "no sandbox events for warm VMs");
    const mine = poolEvents.filter((e) => e.warmPool.uid === desired.uid);
    assert.deepEqual(
      mine.at(-1)?.warmPool,
      {
        uid: desired.uid,
        name: "web",
        namespace: "team-a",
        generation: 1,
        desiredReplicas: 2,
        replicas: 2,
        readyReplicas: 2,
      },
      "the last event has the pool's counts",
    );
    // Nothing of a sandbox in a warm VM: no ingress, env, secrets, command; egress denied.
    for (const handle of manager.warm.handles()) {
      assert.equal(handle.unclaimedWarm, true);
      assert.equal(handle.gateway(), undefined, "ingress off");
      const seen = handle.observe();
      assert.deepEqual(seen.secretNames, []);
      assert.equal(seen.startedFrom, "boot");
      assert.deepEqual(handle.desired.policy.allowedHosts, []);
      assert.deepEqual(handle.desired.env, {});
      assert.equal(handle.desired.command, undefined);
    }

    // A claim: Running at once, the sandbox's own, and the pool refills.
    const claimant = sandbox(desired.uid);
    const warmIds = new Set(manager.warm.handles().map((h) => h.desired.uid));
    const started = performance.now();
    const put = await manager.put(claimant);
    const ms = performance.now() - started;
    assert.equal(put.outcome, "created");
    assert.equal(put.sandbox.phase, "Running", JSON.stringify(put.sandbox));
    assert.equal(put.sandbox.startedFrom, "warmPool");
    assert.equal(put.sandbox.uid, claimant.uid);
    assert.deepEqual(put.sandbox.secretNames, ["API_TOKEN"]);
    assert.deepEqual(put.sandbox.routes, [{ prefix: "/", port: 8000, stripPrefix: true }]);
    assert.ok(ms < BOOT_MS, `a claim boots nothing (${ms.toFixed(1)} ms)`);
    const handle = manager.get(claimant.uid);
    assert.ok(handle, "the sandbox is there");
    assert.ok(handle.gateway(), "ingress on at claim");
    assert.equal(handle.unclaimedWarm, false);
    assert.ok(!warmIds.has(handle.desired.uid));
    assert.equal(claims.length, 1);
    assert.equal(claims[0]?.pool, "team-a/web");
    // The sandbox's events name it only; none names the warm VM it came from.
    assert.ok(sandboxEvents.every((e) => e.sandbox.uid === claimant.uid));
    assert.ok(sandboxEvents.some((e) => e.sandbox.phase === "Running"));
    // A second claim of the same handle is refused.
    await assert.rejects(
      async () => handle.claim(sandbox(desired.uid)),
      /claimed already|not an unclaimed/,
    );

    await ready(desired.uid, 2);
    const refilled = manager.warm.handles().map((h) => h.desired.uid);
    assert.equal(refilled.filter((id) => !warmIds.has(id)).length, 1, "one new warm VM");
    assert.deepEqual(manager.free(), { cpus: 5, memoryMiB: 6656, vms: 1 });

    // Live changes and deletion work as for any sandbox.
    const changed = await manager.put({
      ...claimant,
      generation: 2,
      policy: { ...claimant.policy, secrets: [] },
    });
    assert.equal(changed.outcome, "updated");
    assert.deepEqual(changed.sandbox.secretNames, []);
    assert.equal(await manager.delete(claimant.uid), true);
    assert.equal(manager.get(claimant.uid), undefined);
    assert.equal(manager.warm.delete(desired.uid), true);
    assert.equal(poolEvents.at(-1)?.deleted, true);
    await until("pool VMs stopped", () => manager.warm.handles().length === 0);
  });

  it("boots cold when the pool is unknown, has another shape, or the sandbox needs a boot-time setting", async () => {
    const desired = pool({ replicas: 1 });
    manager.putWarmPool(desired);
    await ready(desired.uid, 1);
    const cases = [
      sandbox(randomUUID()),
      sandbox(desired.uid, { resources: { cpus: 1, memoryMiB: 1024 } }),
      sandbox(desired.uid, { image: "another:image" }),
      sandbox(desired.uid, { policy: { dns: { mode: "trusted" } } }),
      sandbox(desired.uid, { operatingMode: "Suspended" }),
      // Another team's sandbox naming this pool's UID: a pool serves its own namespace only.
      sandbox(desired.uid, { namespace: "team-b" }),
    ];
    for (const claimant of cases) {
      const put = await manager.put(claimant);
      assert.equal(put.outcome, "created");
      assert.notEqual(put.sandbox.startedFrom, "warmPool");
      assert.equal(
        observed(desired.uid).readyReplicas,
        1,
        `the warm VM stays in its pool: ${JSON.stringify(observed(desired.uid))}`,
      );
      if (claimant.operatingMode === "Running") {
        await until("a cold boot", () => manager.get(claimant.uid)?.phase === "Running");
        assert.equal(manager.get(claimant.uid)?.observe().startedFrom, "boot");
      }
      await manager.delete(claimant.uid);
    }
    assert.equal(claimable(cases[1] as DesiredSandbox, desired), false);
    assert.equal(claimable(sandbox(desired.uid), desired), true);
    assert.equal(claimable(sandbox(desired.uid, { namespace: "team-b" }), desired), false);
    manager.warm.delete(desired.uid);
    await until("pool VMs stopped", () => manager.warm.handles().length === 0);
  });

  it("gives a sandbox that must boot the room of warm VMs, and refills once room is back", async () => {
    // 4 VM slots: a pool of 3, then 2 sandboxes of another shape.
    const desired = pool({ replicas: 3 });
    manager.putWarmPool(desired);
    await ready(desired.uid, 3);
    const first = sandbox(desired.uid, { resources: { cpus: 1, memoryMiB: 256 } });
    const second = sandbox(desired.uid, { resources: { cpus: 1, memoryMiB: 256 } });
    await manager.put(first);
    assert.equal(observed(desired.uid).replicas, 3, "a free slot: no eviction");
    await manager.put(second);
    const short = observed(desired.uid);
    assert.equal(short.replicas, 2, "one warm VM made room");
    assert.equal(short.reason, "NoCapacity");
    assert.equal(manager.free().vms, 0);
    // A sandbox that would not fit even without warm VMs takes none of them.
    const huge = sandbox(desired.uid, { resources: { cpus: 1, memoryMiB: 65_536 } });
    await assert.rejects(manager.put(huge), /node is full/);
    assert.equal(observed(desired.uid).replicas, 2, "no warm VM stopped for nothing");
    await manager.delete(first.uid);
    await manager.delete(second.uid);
    await ready(desired.uid, 3);
    assert.equal(observed(desired.uid).reason, undefined);
    manager.warm.delete(desired.uid);
    await until("pool VMs stopped", () => manager.warm.handles().length === 0);
  });

  it("replaces a pool's VMs when its shape changes, and stops extras when its replicas shrink", async () => {
    const desired = pool({ replicas: 2 });
    manager.putWarmPool(desired);
    await ready(desired.uid, 2);
    const before = new Set(manager.warm.handles().map((h) => h.desired.uid));
    const bigger = { ...desired, generation: 2, resources: { cpus: 2, memoryMiB: 1024 } };
    assert.equal(manager.putWarmPool(bigger), "updated");
    await ready(desired.uid, 2);
    const now = manager.warm.handles();
    assert.ok(
      now.every((h) => !before.has(h.desired.uid)),
      "every VM is new",
    );
    assert.ok(now.every((h) => h.desired.resources.memoryMiB === 1024));
    assert.equal(observed(desired.uid).generation, 2);
    manager.putWarmPool({ ...bigger, generation: 3, replicas: 0 });
    await until("extras stopped", () => manager.warm.handles().length === 0);
    assert.equal(observed(desired.uid).replicas, 0);
    manager.warm.delete(desired.uid);
  });

  it("boots no second VM when a claim fails after the sandbox was deleted or put again meanwhile", async () => {
    const desired = pool({ replicas: 1 });
    manager.putWarmPool(desired);
    /**
     * The next claim of a ready warm VM fails once `release` is called, as a
     * supervised VM's does when its supervisor goes away mid-claim (a DELETE
     * stopping it) or finds it no longer running.
     */
    const failNextClaim = async () => {
      await ready(desired.uid, 1);
      const [warmVm] = manager.warm.handles();
      assert.ok(warmVm);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      warmVm.claim = async () => {
        await gate;
        throw new ClaimRefused("the warm VM is Stopping");
      };
      return release;
    };

    // Deleted while its claim was under way: the sandbox stays deleted.
    const deleted = sandbox(desired.uid);
    let release = await failNextClaim();
    const first = manager.put(deleted);
    assert.ok(manager.get(deleted.uid), "the claim holds the sandbox's UID");
    assert.equal(await manager.delete(deleted.uid), true);
    release();
    await first;
    assert.equal(manager.get(deleted.uid), undefined, "no VM boots for a deleted sandbox");

    // Put again meanwhile (the operator retrying): that PUT's VM is the one kept, not leaked.
    const retried = sandbox(desired.uid);
    release = await failNextClaim();
    const claiming = manager.put(retried);
    const again = await manager.put(retried);
    assert.equal(again.outcome, "rebooting");
    const kept = manager.get(retried.uid);
    assert.ok(kept);
    release();
    const answered = await claiming;
    assert.equal(manager.get(retried.uid), kept, "one VM for the sandbox: the later PUT's");
    assert.equal(answered.sandbox.uid, retried.uid);
    await until("the sandbox runs", () => kept.phase === "Running");
    assert.equal(await manager.delete(retried.uid), true);
    manager.warm.delete(desired.uid);
    await until("pool VMs stopped", () => manager.warm.handles().length === 0);
  });

  it("reports a failed warm boot (BootFailed), backs off and boots again", async () => {
    /** Fails its first two launches, as a missing image or a crashing QEMU would. */
    class FlakyRuntime extends SimulatedRuntime {
      launches = 0;
      override async launch(spec: Parameters<SimulatedRuntime["launch"]>[0]) {
        this.launches++;
        if (this.launches <= 2) throw new Error("image not found");
        return super.launch(spec);
      }
    }
    const runtime = new FlakyRuntime({ bootMs: 5 });
    const flaky = new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 4 },
      log: logger.child({ test: "warm-pools-flaky" }, { level: "silent" }),
      warm: { retryFirstMs: 30, retryMaxMs: 100 },
      inProcess: {
        ...nodeVmContext(
          {
            nodeName: "warm-node",
            accelerator: "tcg",
            tcgTranslationCacheMiB: 32,
            ingressHeaderTimeoutMs: 5_000,
            platformCidrs: [],
          },
          runtime,
        ),
        records: new VmRecords(dir),
        checkpoints: new Checkpoints(dir),
        audit: () => {},
      },
    });
    const reasons: (string | undefined)[] = [];
    flaky.on("warmPool", (event) => reasons.push(event.warmPool.reason));
    try {
      const desired = pool({ replicas: 1 });
      flaky.putWarmPool(desired);
      await until(
        "a ready VM after two failures",
        () => flaky.warm.get(desired.uid)?.readyReplicas === 1,
      );
      assert.equal(runtime.launches, 3);
      assert.ok(reasons.includes("BootFailed"), `reasons: ${reasons.join(", ")}`);
      assert.equal(flaky.warm.get(desired.uid)?.reason, undefined, "no reason once full");
      assert.equal(flaky.warm.handles().length, 1, "failed VMs are gone");
    } finally {
      await flaky.stopAll();
    }
  });

  it("names the pool in a warm VM's placeholder, which is a valid desired state", () => {
    const desired = pool({ name: "a".repeat(63) });
    const placeholder = warmPlaceholder(desired, randomUUID());
    assert.ok(DesiredSandbox.safeParse(placeholder).success);
    assert.deepEqual(placeholder.warmPool, { uid: desired.uid });
  });
});
