import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { isDeepStrictEqual } from "node:util";
import type { DesiredSandbox, ObservedSandbox, SandboxEvent } from "@turgon/api/agent";
import { SUPERVISOR_PROTOCOL, type SupervisorFront } from "@turgon/api/supervisor";
import type { Logger } from "../logger.ts";
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
import type { SandboxHandle } from "./handle.ts";
import { bootIdentity, ManagedSandbox, type SandboxContext, type Timing } from "./sandbox.ts";

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
export class SandboxManager extends EventEmitter<{ event: [SandboxEvent] }> {
  private readonly sandboxes = new Map<string, SandboxHandle>();
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
    if ("supervision" in options) this.supervision = options.supervision;
    else
      this.context = {
        ...options.inProcess,
        log: options.log,
        onTiming: this.onTiming,
        onChange: (sandbox) => this.emitChange("sandbox", sandbox),
      };
  }

  private supervisedOptions() {
    return {
      stateDir: this.supervision?.stateDir ?? "",
      log: this.log,
      onTiming: this.onTiming,
      ...(this.onFrontRequests ? { onFrontRequests: this.onFrontRequests } : {}),
      ...(this.supervision?.front ? { frontAuth: () => this.frontAuth() } : {}),
      onChange: (sandbox: SandboxHandle) => {
        // A sandbox replaced by a new one (a reboot) reports nothing more.
        const current = this.sandboxes.get(sandbox.desired.uid);
        if (current === undefined || current === sandbox) this.emitChange("sandbox", sandbox);
      },
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
    for (const { uid, record } of await listSupervisors(supervision.stateDir)) {
      const client = new SupervisorClient(supervisorPaths(supervision.stateDir, uid).socket);
      const found = await client
        .hello(5_000)
        .then(async (hello) => ({ hello, state: await client.state() }))
        .catch(() => undefined);
      // Only the supervisor of this very sandbox is adopted: its own uid, and a desired state for it.
      const desired =
        found?.hello.uid === uid && found.state.desired?.uid === uid
          ? found.state.desired
          : undefined;
      if (found && found.hello.protocol !== SUPERVISOR_PROTOCOL)
        this.log.error(
          { uid, protocol: found.hello.protocol, ours: SUPERVISOR_PROTOCOL },
          "a supervisor speaks another protocol: stopping its VM (the operator recreates it)",
        );
      if (!found || !desired || found.hello.protocol !== SUPERVISOR_PROTOCOL) {
        await reapSupervisor(supervision.stateDir, uid, record);
        reaped.push(uid);
        continue;
      }
      this.log.info(
        {
          uid,
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
    let cpus = this.allocatable.cpus;
    let memoryMiB = this.allocatable.memoryMiB;
    for (const sandbox of this.sandboxes.values()) {
      cpus -= sandbox.desired.resources.cpus;
      memoryMiB -= sandbox.desired.resources.memoryMiB;
    }
    return { cpus, memoryMiB, vms: this.allocatable.vms - this.sandboxes.size };
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

  /** Applies desired state; the same state twice is a no-op. */
  async put(desired: DesiredSandbox): Promise<{ outcome: PutOutcome; sandbox: ObservedSandbox }> {
    const existing = this.sandboxes.get(desired.uid);
    if (!existing) {
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
      [...this.sandboxes.values()].map((sandbox) =>
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
    }
    this.emitChange("deleted", sandbox);
    return true;
  }

  /** Closes every VM; suspended sandboxes' checkpoints stay for the next agent. */
  async stopAll(): Promise<void> {
    await Promise.allSettled(
      [...this.sandboxes.keys()].map((uid) => this.delete(uid, { keepSuspended: true })),
    );
  }

  /**
   * On agent shutdown: lets go of every sandbox. Supervised VMs go on running
   * for the next agent to re-adopt; in-process ones (simulated) stop, keeping
   * suspended sandboxes' checkpoints.
   */
  async detachAll(): Promise<void> {
    const sandboxes = [...this.sandboxes.values()];
    this.sandboxes.clear();
    await Promise.allSettled(sandboxes.map((sandbox) => sandbox.detach()));
  }
}
