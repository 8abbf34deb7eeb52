import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { isDeepStrictEqual } from "node:util";
import type {
  DesiredSandbox,
  DesiredWarmPool,
  ObservedSandbox,
  SandboxEvent,
  WarmPoolEvent,
} from "@turgon/api/agent";
import { SUPERVISOR_PROTOCOL, type SupervisorFront } from "@turgon/api/supervisor";
import type { Logger } from "../logger.ts";
import { Checkpoints } from "../state/checkpoints.ts";
import { SupervisorClient } from "../supervisor/client.ts";
import { type SupervisorOptions, supervisorPaths } from "../supervisor/config.ts";
import type { FrontPorts } from "../supervisor/ports.ts";
import {
  FrontPortInUse,
  launchSupervisor,
  listSupervisors,
  reapSupervisor,
} from "../supervisor/processes.ts";
import { SupervisedSandbox } from "../supervisor/supervised.ts";
import { WarmPools } from "../warm/pools.ts";
import type { SandboxHandle } from "./handle.ts";
import {
  bootIdentity,
  ClaimRefused,
  ManagedSandbox,
  type SandboxContext,
  type Timing,
} from "./sandbox.ts";

/** Each supervisor's ingress front: where it listens, and with what credentials. */
export interface FrontSettings {
  /** The address the fronts bind (the agent's --listen-host). */
  host: string;
  ports: FrontPorts;
  /** The agent's current ingress credentials (they rotate). */
  auth: () => SupervisorFront;
}

/** How the agent starts a sandbox's supervisor: everything but the sandbox's UID, spool and port. */
export type SupervisionSettings = Omit<SupervisorOptions, "uid" | "spoolDir" | "front"> & {
  /** A supervisor's spool directory, by UID. */
  spoolDirOf: (uid: string) => string;
  /** Node flags for supervisors (the benchmark compares); SUPERVISOR_NODE_FLAGS by default. */
  nodeFlags?: string[];
  /** The supervisors' entry (the benchmark compares): the bundle by default (`supervisorEntry`). */
  entry?: string;
  /** Fronts for the supervisors; none: the agent's ingress port alone serves. */
  front?: FrontSettings;
};

/** How many ports a new supervisor tries when another process holds the one it was given. */
const FRONT_PORT_ATTEMPTS = 4;

export interface Capacity {
  cpus: number;
  memoryMiB: number;
  vms: number;
}

export class CapacityError extends Error {}

/**
 * What can be placed on a node that offers `capacity`: vCPUs overcommitted by
 * `cpuAllocationRatio` (VM hosts share cores among mostly idle guests, as
 * OpenStack's cpu_allocation_ratio does), memory and VM slots as offered
 * (guest memory is not overcommitted). Whole vCPUs, rounded down.
 */
export function allocatableOf(capacity: Capacity, cpuAllocationRatio: number): Capacity {
  // The epsilon keeps 100 × 1.15 at 115 despite binary floating point.
  const cpus = Math.floor(capacity.cpus * cpuAllocationRatio + 1e-9);
  return { cpus, memoryMiB: capacity.memoryMiB, vms: capacity.vms };
}

export type PutOutcome = "created" | "unchanged" | "updated" | "rebooting";

/**
 * The sandboxes on this node, keyed by Sandbox UID. Desired state comes in by
 * PUT (idempotent); changes go out as events. With `supervision` (QEMU), each
 * sandbox's VM lives in a supervisor process of its own, which outlives the
 * agent: a starting agent re-adopts every supervisor that still answers
 * (`adopt`) and reaps what is left of those that do not. Without (the
 * simulated runtime), sandboxes live in this process and end with it (a
 * suspended sandbox's disk checkpoint is kept across agent restarts and
 * picked up when the operator PUTs that sandbox again).
 *
 * Suspended sandboxes keep their slot and their share of capacity: resuming
 * must never find the node full. Room is counted against what is allocatable
 * (vCPUs overcommitted), the same figure the SandboxNode reports and the
 * operator schedules against.
 */
export class SandboxManager extends EventEmitter<{
  event: [SandboxEvent];
  warmPool: [WarmPoolEvent];
}> {
  private readonly sandboxes = new Map<string, SandboxHandle>();
  /** Booted, idle VMs that new sandboxes claim (they count against capacity). */
  readonly warm: WarmPools;
  private readonly onClaim: (pool: string, seconds: number) => void;
  /** What can be placed here in all (see `allocatableOf`). */
  readonly allocatable: Capacity;
  private readonly log: Logger;
  private readonly onTiming: (kind: Timing, seconds: number) => void;
  private readonly onFrontRequests?: (code: string, count: number) => void;
  /** In-process sandboxes' context; supervised ones get theirs in their supervisor. */
  private readonly context?: SandboxContext;
  private readonly supervision?: SupervisionSettings;
  /** This agent process, in the order of its credential pushes (see `SupervisorFront.generation`). */
  private readonly frontPusher = randomUUID();
  private frontPushes = 0;

  constructor(
    options: {
      allocatable: Capacity;
      log: Logger;
      /** Durations of boots, resumes and suspends, for metrics. */
      onTiming?: (kind: Timing, seconds: number) => void;
      /** Requests supervisors' fronts answered, by status code, as they report them. */
      onFrontRequests?: (code: string, count: number) => void;
      /** A sandbox claimed a warm VM of `pool` (namespace/name) in `seconds` (agent side). */
      onClaim?: (pool: string, seconds: number) => void;
      /** The warm pools' boot back-off and timeout (tests shorten them). */
      warm?: { retryFirstMs?: number; retryMaxMs?: number; bootTimeoutMs?: number };
    } & (
      | {
          /** Run each sandbox in this process (the simulated runtime; the benchmark's old layout). */
          inProcess: Omit<SandboxContext, "log" | "onTiming" | "onChange">;
        }
      | {
          /** Run each sandbox in a supervisor process of its own (QEMU). */
          supervision: SupervisionSettings;
        }
    ),
  ) {
    super();
    this.allocatable = options.allocatable;
    this.log = options.log;
    this.onTiming = options.onTiming ?? (() => {});
    if (options.onFrontRequests) this.onFrontRequests = options.onFrontRequests;
    this.onClaim = options.onClaim ?? (() => {});
    if ("supervision" in options) this.supervision = options.supervision;
    else
      this.context = {
        ...options.inProcess,
        log: options.log,
        onTiming: this.onTiming,
        onChange: (sandbox) => this.changed(sandbox),
      };
    this.warm = new WarmPools({
      log: options.log,
      ...options.warm,
      create: (placeholder, poolUid) => this.createWarm(placeholder, poolUid),
      destroy: (handle) => this.destroyWarm(handle),
      room: (resources) => this.fits(resources),
    });
    this.warm.on("change", (event) => this.emit("warmPool", event));
  }

  /** A handle changed: a warm VM's change is its pool's; a sandbox's goes out as an event. */
  private changed(sandbox: SandboxHandle): void {
    if (this.warm.holds(sandbox)) {
      this.warm.changed(sandbox);
      return;
    }
    // A sandbox replaced by a new one (a reboot) reports nothing more.
    const current = this.sandboxes.get(sandbox.desired.uid);
    if (current === undefined || current === sandbox) this.emitChange("sandbox", sandbox);
  }

  private supervisedOptions() {
    return {
      stateDir: this.supervision?.stateDir ?? "",
      log: this.log,
      onTiming: this.onTiming,
      ...(this.onFrontRequests ? { onFrontRequests: this.onFrontRequests } : {}),
      ...(this.supervision?.front ? { frontAuth: () => this.frontAuth() } : {}),
      onChange: (sandbox: SandboxHandle) => this.changed(sandbox),
    };
  }

  /** The credentials as they are now, numbered: a front never takes an older push over a newer one. */
  private frontAuth(): SupervisorFront {
    const front = this.supervision?.front as FrontSettings;
    return {
      ...front.auth(),
      generation: { agent: this.frontPusher, sequence: ++this.frontPushes },
    };
  }

  /**
   * Re-adopts the supervisors a previous agent started (their VMs kept
   * running), with their original startedAt; a supervisor that does not
   * answer is a VM that died: what is left of it (its QEMU) is killed and it
   * is not reported (the operator recreates its sandbox). Returns the UIDs.
   */
  async adopt(): Promise<{ adopted: string[]; reaped: string[] }> {
    const supervision = this.supervision;
    if (!supervision) return { adopted: [], reaped: [] };
    const adopted: string[] = [];
    const reaped: string[] = [];
    for (const { uid: id, record } of await listSupervisors(supervision.stateDir)) {
      const client = new SupervisorClient(supervisorPaths(supervision.stateDir, id).socket);
      const found = await client
        .hello(5_000)
        .then(async (hello) => ({ hello, state: await client.state() }))
        .catch(() => undefined);
      const warm = found?.state.warm;
      const uid = found?.state.desired?.uid ?? id;
      // A warm VM no sandbox claimed is stopped, not kept: its pool's desired
      // state comes again from the operator, and the pool boots afresh. So is
      // one caught mid-claim (claimed, but still holding its own desired
      // state): which sandbox it was for is unknown, and that one boots cold.
      if (found?.hello.uid === id && warm && (!warm.claimed || uid === id)) {
        this.log.info(
          { vm: id, pool: warm.poolUid, midClaim: warm.claimed },
          "stopping a warm VM of a previous agent",
        );
        await client.stop({ keepSuspended: false }, 30_000).catch(() => {});
        await reapSupervisor(supervision.stateDir, id, record);
        reaped.push(id);
        continue;
      }
      // Only the supervisor of this very sandbox is adopted: its own id, and a
      // desired state for it (a claimed warm VM's names the sandbox that claimed it).
      const desired =
        found?.hello.uid === id && (uid === id || warm?.claimed) && !this.sandboxes.has(uid)
          ? found.state.desired
          : undefined;
      if (found && found.hello.protocol !== SUPERVISOR_PROTOCOL)
        this.log.error(
          { uid, protocol: found.hello.protocol, ours: SUPERVISOR_PROTOCOL },
          "a supervisor speaks another protocol: stopping its VM (the operator recreates it)",
        );
      if (!found || !desired || found.hello.protocol !== SUPERVISOR_PROTOCOL) {
        await reapSupervisor(supervision.stateDir, id, record);
        reaped.push(id);
        continue;
      }
      this.log.info(
        {
          uid,
          ...(uid !== id ? { supervisor: id } : {}),
          pid: found.hello.pid,
          version: found.hello.version,
          phase: found.state.sandbox.phase,
        },
        "re-adopted a running sandbox",
      );
      const sandbox = SupervisedSandbox.adopt(
        client,
        found.hello,
        { ...found.state, desired },
        this.supervisedOptions(),
      );
      if (found.hello.frontPort) supervision.front?.ports.adopt(uid, found.hello.frontPort);
      // The credentials may have rotated, or moved, while no agent ran: until
      // the front takes them (retried) it is not reported.
      await sandbox.pushFront();
      this.sandboxes.set(uid, sandbox);
      this.emitChange("sandbox", sandbox);
      adopted.push(uid);
    }
    return { adopted, reaped };
  }

  /** What is left for new sandboxes: allocatable minus every sandbox here, suspended ones too. */
  free(): Capacity {
    const warm = this.warm.usage();
    let cpus = this.allocatable.cpus - warm.cpus;
    let memoryMiB = this.allocatable.memoryMiB - warm.memoryMiB;
    for (const sandbox of this.sandboxes.values()) {
      cpus -= sandbox.desired.resources.cpus;
      memoryMiB -= sandbox.desired.resources.memoryMiB;
    }
    return { cpus, memoryMiB, vms: this.allocatable.vms - this.sandboxes.size - warm.vms };
  }

  /** Whether a VM of `resources` fits in what is free now (`withoutWarm`: were no warm VM here). */
  private fits(
    resources: DesiredSandbox["resources"],
    options: { withoutWarm?: boolean } = {},
  ): boolean {
    const free = this.free();
    const warm = options.withoutWarm ? this.warm.usage() : { cpus: 0, memoryMiB: 0, vms: 0 };
    return (
      free.vms + warm.vms >= 1 &&
      free.cpus + warm.cpus >= resources.cpus &&
      free.memoryMiB + warm.memoryMiB >= resources.memoryMiB
    );
  }

  private emitChange(type: SandboxEvent["type"], sandbox: SandboxHandle): void {
    this.emit("event", { type, sandbox: sandbox.observe(), time: new Date().toISOString() });
  }

  /**
   * Starts the supervisor of `uid` on a front port of its own; a port
   * another process holds is set aside and the next one tried.
   */
  private async launch(uid: string, supervision: SupervisionSettings) {
    const { spoolDirOf, nodeFlags, entry, front, ...settings } = supervision;
    for (let attempt = 1; ; attempt++) {
      const port = front?.ports.reserve(uid);
      try {
        const client = await launchSupervisor(
          {
            ...settings,
            uid,
            spoolDir: spoolDirOf(uid),
            ...(front && port !== undefined ? { front: { host: front.host, port } } : {}),
          },
          { ...(nodeFlags ? { nodeFlags } : {}), ...(entry ? { entry } : {}) },
        );
        // In ephemeral mode the port is the kernel's pick: held from here on.
        const { frontPort } = await client.hello();
        if (front && frontPort) front.ports.adopt(uid, frontPort);
        return client;
      } catch (error) {
        if (!(error instanceof FrontPortInUse) || !front) throw error;
        // Set aside whatever the attempt: the last one's port is not held by this sandbox either.
        front.ports.refused(uid, error.port);
        if (attempt >= FRONT_PORT_ATTEMPTS) throw error;
        this.log.warn(
          { uid, port: error.port, attempt },
          "another process holds the front port: trying another",
        );
      }
    }
  }

  private async create(desired: DesiredSandbox): Promise<SandboxHandle> {
    const supervision = this.supervision;
    const sandbox: SandboxHandle = supervision
      ? SupervisedSandbox.create(desired, this.supervisedOptions(), () =>
          this.launch(desired.uid, supervision),
        )
      : // Without supervision the constructor was given the in-process context.
        new ManagedSandbox(desired, this.context as SandboxContext);
    this.sandboxes.set(desired.uid, sandbox);
    if (sandbox instanceof SupervisedSandbox) {
      // Until its supervisor runs and has the desired state (a second or so),
      // so the answer and the first event are the supervisor's own report.
      await sandbox.start();
      return sandbox;
    }
    this.emitChange("sandbox", sandbox);
    void sandbox.start();
    return sandbox;
  }

  /** A warm VM of a pool (not started): in a supervisor of its own, or in process. */
  private createWarm(placeholder: DesiredSandbox, poolUid: string): SandboxHandle {
    const supervision = this.supervision;
    if (supervision)
      return SupervisedSandbox.createWarm(placeholder, poolUid, this.supervisedOptions(), () =>
        this.launch(placeholder.uid, supervision),
      );
    return new ManagedSandbox(placeholder, this.context as SandboxContext, {
      warm: { poolUid },
    });
  }

  private async destroyWarm(handle: SandboxHandle): Promise<void> {
    const id = handle instanceof SupervisedSandbox ? handle.supervisorId : handle.desired.uid;
    try {
      await handle.stop();
    } finally {
      this.supervision?.front?.ports.release(id);
    }
  }

  /** Applies a warm pool's desired state (see `WarmPools.put`). */
  putWarmPool(desired: DesiredWarmPool) {
    return this.warm.put(desired);
  }

  /**
   * Binds a warm VM taken from its pool to the new sandbox `desired`. A VM
   * that refuses (it failed meanwhile) is stopped and undefined returned:
   * the sandbox then boots, unless it was deleted or put again meanwhile
   * (then what holds its UID now, or the stopped VM, is returned).
   */
  private async claim(
    handle: SandboxHandle,
    desired: DesiredSandbox,
    pool: string,
  ): Promise<SandboxHandle | undefined> {
    const started = performance.now();
    const vmId = handle instanceof SupervisedSandbox ? handle.supervisorId : handle.desired.uid;
    // Under the sandbox's UID from now on: a second PUT meanwhile finds it.
    this.sandboxes.set(desired.uid, handle);
    this.supervision?.front?.ports.transfer(vmId, desired.uid);
    try {
      await handle.claim(desired);
    } catch (error) {
      this.log.warn(
        { uid: desired.uid, vm: vmId, err: error },
        error instanceof ClaimRefused
          ? "the warm VM refused the claim: booting the sandbox"
          : "claiming a warm VM failed: booting the sandbox",
      );
      // Stopped before the boot: the new supervisor may want the same front port.
      // Kept under the sandbox's UID meanwhile, so a PUT or DELETE of it finds it.
      await handle.stop().catch(() => {});
      // A DELETE (or a PUT that booted it afresh) took the sandbox over while the
      // claim ran: booting here too would leave a VM no one owns.
      const current = this.sandboxes.get(desired.uid);
      if (current !== handle) return current ?? handle;
      this.sandboxes.delete(desired.uid);
      this.supervision?.front?.ports.release(desired.uid);
      return undefined;
    }
    const seconds = (performance.now() - started) / 1000;
    this.onClaim(pool, seconds);
    this.log.info(
      { uid: desired.uid, vm: vmId, pool, ms: Math.round(seconds * 1000), phase: handle.phase },
      "sandbox started from a warm VM",
    );
    return handle;
  }

  /** Whether a disk checkpoint waits for `uid` (a suspended sandbox of a previous agent). */
  private hasCheckpoint(uid: string): boolean {
    const checkpoints =
      this.context?.checkpoints ??
      (this.supervision ? new Checkpoints(this.supervision.stateDir) : undefined);
    return checkpoints?.loadSync(uid) !== undefined;
  }

  /** Applies desired state; the same state twice is a no-op. */
  async put(desired: DesiredSandbox): Promise<{ outcome: PutOutcome; sandbox: ObservedSandbox }> {
    const existing = this.sandboxes.get(desired.uid);
    if (!existing && desired.warmPool && !this.hasCheckpoint(desired.uid)) {
      const handle = this.warm.take(desired.warmPool.uid, desired);
      const pool = this.warm.get(desired.warmPool.uid);
      if (handle && pool) {
        const claimed = await this.claim(handle, desired, `${pool.namespace}/${pool.name}`);
        if (claimed) return { outcome: "created", sandbox: claimed.observe() };
      }
    }
    if (!existing) {
      // Sandboxes come before warm VMs: as many as it takes make room (none
      // when even all of them would not).
      if (!this.fits(desired.resources) && this.fits(desired.resources, { withoutWarm: true }))
        this.warm.evictUntil(() => this.fits(desired.resources));
      const free = this.free();
      if (
        free.vms < 1 ||
        free.cpus < desired.resources.cpus ||
        free.memoryMiB < desired.resources.memoryMiB
      ) {
        throw new CapacityError(
          `node is full: ${free.vms} VM slots, ${free.cpus} of ${this.allocatable.cpus} allocatable vCPUs and ${free.memoryMiB} MiB free; sandbox asks for ${desired.resources.cpus} vCPUs and ${desired.resources.memoryMiB} MiB`,
        );
      }
      return { outcome: "created", sandbox: (await this.create(desired)).observe() };
    }
    if (isDeepStrictEqual(existing.desired, desired))
      return { outcome: "unchanged", sandbox: existing.observe() };
    // operatingMode is outside the boot identity: suspend and resume are live changes.
    if (bootIdentity(existing.desired) === bootIdentity(desired) && existing.phase !== "Failed") {
      await existing.applyLive(desired);
      return { outcome: "updated", sandbox: existing.observe() };
    }
    await existing.stop();
    this.sandboxes.delete(desired.uid);
    // Released, then reserved again: the new supervisor gets the same port if it is free.
    this.supervision?.front?.ports.release(desired.uid);
    return { outcome: "rebooting", sandbox: (await this.create(desired)).observe() };
  }

  /** The accelerator the supervisors' VMs run on (all choose alike on one host). */
  supervisedAccelerator(): "kvm" | "tcg" | undefined {
    for (const sandbox of this.sandboxes.values())
      if (sandbox instanceof SupervisedSandbox && sandbox.accelerator())
        return sandbox.accelerator();
    return undefined;
  }

  /**
   * Hands every supervisor's front the agent's current credentials (after a
   * rotation); a front that does not take them is retried, and not reported
   * until it does (see `SupervisedSandbox.pushFront`).
   */
  async pushFrontAuth(): Promise<void> {
    await Promise.all(
      [...this.sandboxes.values(), ...this.warm.handles()].map((sandbox) =>
        sandbox instanceof SupervisedSandbox ? sandbox.pushFront() : undefined,
      ),
    );
  }

  get(uid: string): SandboxHandle | undefined {
    return this.sandboxes.get(uid);
  }

  list(): ObservedSandbox[] {
    return [...this.sandboxes.values()].map((s) => s.observe());
  }

  /** Stops the sandbox and removes everything of it, its disk checkpoint included. */
  async delete(uid: string, options: { keepSuspended?: boolean } = {}): Promise<boolean> {
    const sandbox = this.sandboxes.get(uid);
    if (!sandbox) return false;
    this.sandboxes.delete(uid);
    try {
      await sandbox.stop(options);
    } finally {
      // Whatever the stop did, the sandbox is gone from here: its port is free again.
      this.supervision?.front?.ports.release(uid);
      // Its room may let a warm pool refill.
      this.warm.kick();
    }
    this.emitChange("deleted", sandbox);
    return true;
  }

  /** Closes every VM, warm ones too; suspended sandboxes' checkpoints stay for the next agent. */
  async stopAll(): Promise<void> {
    await Promise.allSettled([
      this.warm.close(),
      ...[...this.sandboxes.keys()].map((uid) => this.delete(uid, { keepSuspended: true })),
    ]);
  }

  /**
   * On agent shutdown: lets go of every sandbox. Supervised VMs go on running
   * for the next agent to re-adopt; in-process ones (simulated) stop, keeping
   * suspended sandboxes' checkpoints.
   */
  async detachAll(): Promise<void> {
    const sandboxes = [...this.sandboxes.values()];
    this.sandboxes.clear();
    // Warm VMs too: a supervised one goes on, and the next agent stops it (`adopt`).
    await Promise.allSettled([this.warm.detach(), ...sandboxes.map((sandbox) => sandbox.detach())]);
  }
}
