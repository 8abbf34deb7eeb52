import { EventEmitter } from "node:events";
import { isDeepStrictEqual } from "node:util";
import type { AgentEvent, DesiredSandbox, ObservedSandbox } from "@turgon/api/agent";
import type { EgressAuditEvent } from "@turgon/api/audit";
import { AddressRules } from "../egress/addresses.ts";
import type { Logger } from "../logger.ts";
import type { Checkpoints } from "../state/checkpoints.ts";
import type { VmRecords } from "../state/vm-records.ts";
import type { SandboxRuntime } from "../vm/launcher.ts";
import {
  bootIdentity,
  type EgressSettings,
  ManagedSandbox,
  type SandboxContext,
  type Timing,
} from "./sandbox.ts";

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
 * PUT (idempotent); changes go out as events. Only VMs this process started
 * are ever reported, so a restarted agent reports none until told again
 * (a suspended sandbox's disk checkpoint is kept across agent restarts and
 * picked up when the operator PUTs that sandbox again).
 *
 * Suspended sandboxes keep their slot and their share of capacity: resuming
 * must never find the node full. Room is counted against what is allocatable
 * (vCPUs overcommitted), the same figure the SandboxNode reports and the
 * operator schedules against.
 */
export class SandboxManager extends EventEmitter<{ event: [AgentEvent] }> {
  private readonly sandboxes = new Map<string, ManagedSandbox>();
  /** What can be placed here in all (see `allocatableOf`). */
  readonly allocatable: Capacity;
  private readonly context: SandboxContext;

  constructor(options: {
    runtime: SandboxRuntime;
    allocatable: Capacity;
    log: Logger;
    ingressHeaderTimeoutMs: number;
    nodeName: string;
    audit: (event: EgressAuditEvent) => void;
    /** Durations of boots, resumes and suspends, for metrics. */
    onTiming?: (kind: Timing, seconds: number) => void;
    records: VmRecords;
    checkpoints: Checkpoints;
    /** The node's egress floor and DNS resolvers; the floor alone by default. */
    egress?: Partial<EgressSettings>;
  }) {
    super();
    this.allocatable = options.allocatable;
    this.context = {
      runtime: options.runtime,
      log: options.log,
      ingressHeaderTimeoutMs: options.ingressHeaderTimeoutMs,
      nodeName: options.nodeName,
      audit: options.audit,
      onTiming: options.onTiming ?? (() => {}),
      records: options.records,
      checkpoints: options.checkpoints,
      egress: { addresses: new AddressRules(), ...options.egress },
      onChange: (sandbox) => this.emitChange("sandbox", sandbox),
    };
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

  private emitChange(type: AgentEvent["type"], sandbox: ManagedSandbox): void {
    this.emit("event", { type, sandbox: sandbox.observe(), time: new Date().toISOString() });
  }

  private create(desired: DesiredSandbox): ManagedSandbox {
    const sandbox = new ManagedSandbox(desired, this.context);
    this.sandboxes.set(desired.uid, sandbox);
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
      return { outcome: "created", sandbox: this.create(desired).observe() };
    }
    if (isDeepStrictEqual(existing.desired, desired))
      return { outcome: "unchanged", sandbox: existing.observe() };
    // operatingMode is outside the boot identity: suspend and resume are live changes.
    if (bootIdentity(existing.desired) === bootIdentity(desired) && existing.phase !== "Failed") {
      existing.applyLive(desired);
      return { outcome: "updated", sandbox: existing.observe() };
    }
    await existing.stop();
    this.sandboxes.delete(desired.uid);
    return { outcome: "rebooting", sandbox: this.create(desired).observe() };
  }

  get(uid: string): ManagedSandbox | undefined {
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
    await sandbox.stop(options);
    this.emitChange("deleted", sandbox);
    return true;
  }

  /** Closes every VM on SIGTERM; suspended sandboxes' checkpoints stay for the next agent. */
  async stopAll(): Promise<void> {
    await Promise.allSettled(
      [...this.sandboxes.keys()].map((uid) => this.delete(uid, { keepSuspended: true })),
    );
  }
}
