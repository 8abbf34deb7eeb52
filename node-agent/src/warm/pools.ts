/**
 * Warm pools on this node: booted, idle VMs of a pool's boot shape (image,
 * resources, rootfsMode), each with a disk overlay of its own, that a new
 * sandbox naming the pool claims instead of booting (see
 * `ManagedSandbox.claim`). A claimed VM leaves its pool for good (it is the
 * sandbox's, and stops with it); the pool boots another in the background.
 *
 * Boots run one at a time across all pools: under TCG a boot takes a core
 * for seconds, and the sandboxes already running share those cores. A pool
 * short of VMs says why (NoCapacity, BootFailed); failed boots back off.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { isDeepStrictEqual } from "node:util";
import type {
  DesiredSandbox,
  DesiredWarmPool,
  ObservedWarmPool,
  WarmPoolEvent,
} from "@turgon/api/agent";
import type { Logger } from "../logger.ts";
import type { SandboxHandle } from "../sandboxes/handle.ts";

/** The fields of a desired state that fix a VM's boot: what a warm VM and its claimant share. */
export type BootShape = Pick<DesiredWarmPool, "image" | "resources" | "rootfsMode">;

export function sameBootShape(a: BootShape, b: BootShape): boolean {
  return (
    a.image === b.image &&
    a.resources.cpus === b.resources.cpus &&
    a.resources.memoryMiB === b.resources.memoryMiB &&
    (a.rootfsMode ?? null) === (b.rootfsMode ?? null)
  );
}

/**
 * Whether `desired` can run on a warm VM of `pool`: a sandbox of the pool's
 * own namespace (a pool is its team's: the operator looks pools up there,
 * and the agent holds to it too, whatever pool UID a desired state names),
 * the same boot shape, nothing else a boot fixes that the warm VM lacks (the
 * guest's resolver starts in synthetic mode), and the sandbox is to run.
 */
export function claimable(
  desired: DesiredSandbox,
  pool: BootShape & Pick<DesiredWarmPool, "namespace">,
): boolean {
  return (
    desired.namespace === pool.namespace &&
    desired.operatingMode === "Running" &&
    (desired.policy.dns?.mode ?? "synthetic") === "synthetic" &&
    sameBootShape(desired, pool)
  );
}

/**
 * The desired state a warm VM boots with: the pool's shape under an id of
 * its own (`vmId`), nothing to run, no env or secrets, every egress denied,
 * ingress and SSH off.
 */
export function warmPlaceholder(pool: DesiredWarmPool, vmId: string): DesiredSandbox {
  const name = `warm-${pool.name}`.slice(0, 63).replace(/-+$/, "");
  return {
    uid: vmId,
    name,
    namespace: pool.namespace,
    generation: 0,
    image: pool.image,
    resources: { ...pool.resources },
    ...(pool.rootfsMode ? { rootfsMode: pool.rootfsMode } : {}),
    env: {},
    ingress: { enabled: false, websockets: true },
    policy: { allowedHosts: [], secrets: [], mode: "enforce" },
    ssh: { enabled: false },
    operatingMode: "Running",
    warmPool: { uid: pool.uid },
  };
}

export type WarmPutOutcome = "created" | "unchanged" | "updated";

interface WarmVm {
  id: string;
  handle: SandboxHandle;
  /** Resolves once the VM is Running or gone (failed, retired): the booting loop waits on it. */
  settled: Promise<void>;
  settle: () => void;
}

interface Pool {
  desired: DesiredWarmPool;
  vms: Map<string, WarmVm>;
  /** Why the pool is short, while it is. */
  short?: { reason: string; message: string };
  /** Boots that failed in a row (their back-off). */
  failures: number;
  retryAt: number;
  /** The last report sent, so only changes go out. */
  reported?: string;
}

export interface WarmPoolsOptions {
  log: Logger;
  /** Makes the handle of a new warm VM (not started). */
  create: (placeholder: DesiredSandbox, poolUid: string) => SandboxHandle;
  /** Stops a warm VM no sandbox claimed, and frees what it held. */
  destroy: (handle: SandboxHandle) => Promise<void>;
  /** Whether a VM of these resources fits on the node now (warm VMs counted). */
  room: (resources: DesiredWarmPool["resources"]) => boolean;
  /** First back-off after a failed boot, doubling (5 s unless given). */
  retryFirstMs?: number;
  /** ...up to this (2 min unless given). */
  retryMaxMs?: number;
  /** How long a warm boot may take before it counts as failed (10 min unless given). */
  bootTimeoutMs?: number;
}

/** The warm pools of this node, keyed by SandboxWarmPool UID. */
export class WarmPools extends EventEmitter<{ change: [WarmPoolEvent] }> {
  private readonly pools = new Map<string, Pool>();
  /** Every warm VM by handle, with its pool's UID. */
  private readonly byHandle = new Map<SandboxHandle, { poolUid: string; vm: WarmVm }>();
  /** Stops under way, so shutdown can wait for them. */
  private readonly stopping = new Set<Promise<void>>();
  private readonly options: WarmPoolsOptions;
  private readonly log: Logger;
  private pumping?: Promise<void>;
  private pumpAgain = false;
  private retryTimer?: NodeJS.Timeout;
  /** When `retryTimer` fires. */
  private retryAt = 0;
  private closed = false;

  constructor(options: WarmPoolsOptions) {
    super();
    this.options = options;
    this.log = options.log.child({ component: "warm-pools" });
  }

  /** Applies a pool's desired state; a new boot shape replaces its VMs. */
  put(desired: DesiredWarmPool): WarmPutOutcome {
    const pool = this.pools.get(desired.uid);
    if (!pool) {
      this.pools.set(desired.uid, { desired, vms: new Map(), failures: 0, retryAt: 0 });
      this.log.info(
        {
          pool: desired.uid,
          name: `${desired.namespace}/${desired.name}`,
          replicas: desired.replicas,
        },
        "warm pool added",
      );
      this.report(desired.uid);
      this.kick();
      return "created";
    }
    if (isDeepStrictEqual(pool.desired, desired)) return "unchanged";
    const reshaped = !sameBootShape(pool.desired, desired);
    pool.desired = desired;
    if (reshaped) {
      this.log.info({ pool: desired.uid }, "warm pool's boot shape changed: replacing its VMs");
      for (const vm of [...pool.vms.values()]) this.retire(desired.uid, vm);
      pool.failures = 0;
      pool.retryAt = 0;
    }
    this.report(desired.uid);
    this.kick();
    return "updated";
  }

  /** Forgets a pool and stops its unclaimed VMs. */
  delete(poolUid: string): boolean {
    const pool = this.pools.get(poolUid);
    if (!pool) return false;
    for (const vm of [...pool.vms.values()]) this.retire(poolUid, vm);
    this.pools.delete(poolUid);
    this.emit("change", {
      type: "warmPool",
      warmPool: { ...this.observePool(pool), replicas: 0, readyReplicas: 0 },
      deleted: true,
      time: new Date().toISOString(),
    });
    this.log.info({ pool: poolUid }, "warm pool deleted");
    return true;
  }

  get(poolUid: string): ObservedWarmPool | undefined {
    const pool = this.pools.get(poolUid);
    return pool ? this.observePool(pool) : undefined;
  }

  list(): ObservedWarmPool[] {
    return [...this.pools.values()].map((pool) => this.observePool(pool));
  }

  private observePool(pool: Pool): ObservedWarmPool {
    const { desired } = pool;
    let ready = 0;
    for (const vm of pool.vms.values()) if (this.isReady(vm.handle)) ready++;
    return {
      uid: desired.uid,
      name: desired.name,
      namespace: desired.namespace,
      generation: desired.generation,
      desiredReplicas: desired.replicas,
      replicas: pool.vms.size,
      readyReplicas: ready,
      ...(pool.short && pool.vms.size < desired.replicas ? pool.short : {}),
    };
  }

  private isReady(handle: SandboxHandle): boolean {
    return handle.phase === "Running" && handle.unclaimedWarm;
  }

  /** Sends the pool's counts when they changed since the last report. */
  private report(poolUid: string): void {
    const pool = this.pools.get(poolUid);
    if (!pool) return;
    const observed = this.observePool(pool);
    const key = JSON.stringify(observed);
    if (key === pool.reported) return;
    pool.reported = key;
    this.emit("change", { type: "warmPool", warmPool: observed, time: new Date().toISOString() });
  }

  /**
   * A ready warm VM of `poolUid` that `desired` can run on, taken out of its
   * pool (which refills in the background): the caller claims it. None when
   * the pool is unknown here, has no ready VM, or its shape differs.
   */
  take(poolUid: string, desired: DesiredSandbox): SandboxHandle | undefined {
    const pool = this.pools.get(poolUid);
    if (!pool || !claimable(desired, pool.desired)) return undefined;
    for (const vm of pool.vms.values()) {
      if (!this.isReady(vm.handle)) continue;
      pool.vms.delete(vm.id);
      this.byHandle.delete(vm.handle);
      this.report(poolUid);
      // After the caller has put the VM among its sandboxes: until then the
      // room it holds would look free to the refill.
      queueMicrotask(() => this.kick());
      return vm.handle;
    }
    return undefined;
  }

  /** Whether `handle` is a warm VM of a pool here (its changes are the pool's, not a sandbox's). */
  holds(handle: SandboxHandle): boolean {
    return this.byHandle.has(handle);
  }

  /** A warm VM's phase changed: a ready one counts, a failed one goes (and its pool backs off). */
  changed(handle: SandboxHandle): void {
    const found = this.byHandle.get(handle);
    if (!found) return;
    const { poolUid, vm } = found;
    if (handle.phase === "Running") {
      const pool = this.pools.get(poolUid);
      if (pool) {
        pool.failures = 0;
        pool.short = undefined;
      }
      vm.settle();
    } else if (handle.phase === "Failed") {
      const observed = handle.observe();
      this.failed(poolUid, `${observed.reason ?? "Failed"}: ${observed.message ?? ""}`.trim());
      this.retire(poolUid, vm);
    }
    this.report(poolUid);
  }

  private failed(poolUid: string, message: string): void {
    const pool = this.pools.get(poolUid);
    if (!pool) return;
    pool.failures++;
    const first = this.options.retryFirstMs ?? 5_000;
    const max = this.options.retryMaxMs ?? 120_000;
    const delay = Math.min(max, first * 2 ** Math.min(pool.failures - 1, 16));
    pool.retryAt = Date.now() + delay;
    pool.short = {
      reason: "BootFailed",
      message: `a warm VM failed (${message}); next boot in ${Math.round(delay / 1000)} s`,
    };
    this.log.warn(
      { pool: poolUid, failures: pool.failures, retryInMs: delay, message },
      "a warm VM failed",
    );
    this.wakeAt(pool.retryAt);
  }

  /** Looks again at `at` (the earliest back-off's end wins). */
  private wakeAt(at: number): void {
    if (this.closed || (this.retryTimer && this.retryAt <= at)) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at;
    // A timer may fire a little before Date.now() reaches `at`: a few ms later, never early.
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.kick();
      },
      Math.max(0, at - Date.now()) + 5,
    );
    this.retryTimer.unref();
  }

  /** What the warm VMs hold of the node (they count against its capacity). */
  usage(): { cpus: number; memoryMiB: number; vms: number } {
    let cpus = 0;
    let memoryMiB = 0;
    for (const handle of this.byHandle.keys()) {
      cpus += handle.desired.resources.cpus;
      memoryMiB += handle.desired.resources.memoryMiB;
    }
    return { cpus, memoryMiB, vms: this.byHandle.size };
  }

  /** Every warm VM's handle (the agent pushes front credentials to them too). */
  handles(): SandboxHandle[] {
    return [...this.byHandle.keys()];
  }

  /**
   * Makes room for a sandbox that must boot: stops warm VMs (booting ones
   * first, then ready ones) until `fits()`. Sandboxes come before warm VMs.
   * Returns how many were stopped.
   */
  evictUntil(fits: () => boolean): number {
    let evicted = 0;
    const order = [...this.byHandle.values()].sort(
      (a, b) => Number(this.isReady(a.vm.handle)) - Number(this.isReady(b.vm.handle)),
    );
    for (const { poolUid, vm } of order) {
      if (fits()) break;
      this.retire(poolUid, vm);
      const pool = this.pools.get(poolUid);
      if (pool)
        pool.short = { reason: "NoCapacity", message: "a sandbox that had to boot took the room" };
      this.report(poolUid);
      evicted++;
    }
    return evicted;
  }

  /** Takes a VM out of its pool and stops it, in the background. */
  private retire(poolUid: string, vm: WarmVm): void {
    this.pools.get(poolUid)?.vms.delete(vm.id);
    this.byHandle.delete(vm.handle);
    vm.settle();
    const stop = this.options
      .destroy(vm.handle)
      .catch((error: unknown) =>
        this.log.warn({ pool: poolUid, vm: vm.id, err: error }, "a warm VM did not stop cleanly"),
      )
      .finally(() => {
        this.stopping.delete(stop);
        // Its room is free again.
        this.kick();
      });
    this.stopping.add(stop);
  }

  /** Starts the booting loop unless it runs; if it does, it looks again when done. */
  kick(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pump()
      .catch((error: unknown) => this.log.error({ err: error }, "warm pool loop failed"))
      .finally(() => {
        this.pumping = undefined;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.kick();
        }
      });
  }

  /** Until every pool has its replicas (or cannot): retires extras, boots one VM at a time. */
  private async pump(): Promise<void> {
    // Bounded: each round boots one VM or ends.
    for (let round = 0; round < 10_000 && !this.closed; round++) {
      this.pumpAgain = false;
      this.retireExtras();
      const pool = this.nextToBoot();
      if (!pool) return;
      await this.bootOne(pool);
    }
  }

  private retireExtras(): void {
    for (const [poolUid, pool] of this.pools) {
      const extra = pool.vms.size - pool.desired.replicas;
      if (extra <= 0) continue;
      // Booting ones first: a ready VM is worth more.
      const order = [...pool.vms.values()].sort(
        (a, b) => Number(this.isReady(a.handle)) - Number(this.isReady(b.handle)),
      );
      for (const vm of order.slice(0, extra)) this.retire(poolUid, vm);
      this.report(poolUid);
    }
  }

  /** The pool furthest from its replicas that may boot now (not backing off, and room for it). */
  private nextToBoot(): Pool | undefined {
    const now = Date.now();
    let best: Pool | undefined;
    let bestFill = Number.POSITIVE_INFINITY;
    for (const pool of this.pools.values()) {
      const { replicas } = pool.desired;
      if (pool.vms.size >= replicas) continue;
      if (pool.retryAt > now) {
        this.wakeAt(pool.retryAt);
        continue;
      }
      if (!this.options.room(pool.desired.resources)) {
        const short = {
          reason: "NoCapacity",
          message: `no room on this node for a warm VM of ${pool.desired.resources.cpus} vCPUs and ${pool.desired.resources.memoryMiB} MiB`,
        };
        if (!isDeepStrictEqual(pool.short, short)) {
          pool.short = short;
          this.report(pool.desired.uid);
        }
        continue;
      }
      const fill = pool.vms.size / replicas;
      if (fill < bestFill) {
        best = pool;
        bestFill = fill;
      }
    }
    return best;
  }

  /** Boots one warm VM for `pool` and waits until it runs, fails or is retired. */
  private async bootOne(pool: Pool): Promise<void> {
    const poolUid = pool.desired.uid;
    const id = randomUUID();
    const handle = this.options.create(warmPlaceholder(pool.desired, id), poolUid);
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const vm: WarmVm = { id, handle, settled, settle };
    pool.vms.set(id, vm);
    this.byHandle.set(handle, { poolUid, vm });
    this.report(poolUid);
    this.log.info({ pool: poolUid, vm: id }, "booting a warm VM");
    const started = performance.now();
    await handle.start();
    // A supervised VM's start returns once its supervisor has the state: the boot goes on.
    if (handle.phase === "Failed") this.changed(handle);
    const timeoutMs = this.options.bootTimeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
      timer.unref();
    });
    const outcome = await Promise.race([settled.then(() => "settled" as const), timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout" && this.byHandle.has(handle)) {
      this.failed(poolUid, `not running after ${Math.round(timeoutMs / 1000)} s`);
      this.retire(poolUid, vm);
      this.report(poolUid);
      return;
    }
    if (this.isReady(handle))
      this.log.info(
        { pool: poolUid, vm: id, ms: Math.round(performance.now() - started) },
        "warm VM ready",
      );
  }

  /**
   * Agent shutdown: lets go of every warm VM as of every sandbox (a
   * supervised one goes on running, and the next agent stops it; an
   * in-process one stops).
   */
  async detach(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const vms = [...this.byHandle.values()].map(({ vm }) => vm);
    this.byHandle.clear();
    for (const pool of this.pools.values()) pool.vms.clear();
    for (const vm of vms) vm.settle();
    await this.pumping;
    await Promise.allSettled([...vms.map((vm) => vm.handle.detach()), ...this.stopping]);
  }

  /** Stops every unclaimed warm VM (the agent stops every VM). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const [poolUid, pool] of this.pools)
      for (const vm of [...pool.vms.values()]) this.retire(poolUid, vm);
    await this.pumping;
    await Promise.allSettled([...this.stopping]);
  }
}
