import { isDeepStrictEqual } from "node:util";
import type { IngressAccess, IngressRoute } from "@earendil-works/gondolin";
import type {
  AgentSandboxPhase,
  DesiredSandbox,
  ExecStart,
  ObservedSandbox,
  SshCredentials,
  StartedFrom,
} from "@turgon/api/agent";
import type { EgressAuditEvent } from "@turgon/api/audit";
import type { SupervisorSsh } from "@turgon/api/supervisor";
import type { WebSocket } from "ws";
import type { AddressRules } from "../egress/addresses.ts";
import { EgressGuard } from "../egress/guard.ts";
import { createSandboxEgress, type SandboxEgress } from "../egress/sandbox-egress.ts";
import { bridgeExec, send } from "../exec/bridge.ts";
import { ingressHooks } from "../ingress/hooks.ts";
import { NOT_PROBED, RouteReadiness } from "../ingress/readiness.ts";
import type { Logger } from "../logger.ts";
import { SandboxSsh } from "../ssh/access.ts";
import type { CheckpointRecord, Checkpoints } from "../state/checkpoints.ts";
import type { VmRecords } from "../state/vm-records.ts";
import type { SandboxRuntime, SandboxVm, VmSpec } from "../vm/launcher.ts";
import { withLiveEnv } from "./guest-env.ts";
import type { SandboxHandle } from "./handle.ts";

/** Where the detached `command` writes its output inside the guest. */
const COMMAND_LOG = "/var/log/turgon-command.log";

/** lastActivityAt moves at most this often, however many requests touch it. */
const ACTIVITY_RESOLUTION_MS = 1000;

/**
 * The desired-state fields that only a new VM can change. `operatingMode` is
 * not one of them: suspending and resuming keep the VM's disk. Nor is `ssh`:
 * SSH is enabled in (and closed for) the running VM. Nor are secrets, names
 * included: their placeholders reach new execs and SSH sessions live.
 */
export function bootIdentity(desired: DesiredSandbox): string {
  return JSON.stringify([
    desired.image,
    desired.resources,
    desired.env,
    desired.command,
    desired.rootfsMode,
    desired.ingress.websockets,
    // The guest's resolver is fixed when its network starts.
    desired.policy.dns?.mode ?? "synthetic",
  ]);
}

export type Timing = "boot" | "resume" | "suspend";

/** A claim the VM cannot take: not a warm VM, claimed already, or not running. */
export class ClaimRefused extends Error {
  override readonly name = "ClaimRefused";
}

/** A warm VM: booted for a pool, bound to a sandbox by `claim`. */
export interface WarmState {
  poolUid: string;
  claimed: boolean;
}

/** What Gondolin's routing table takes of a route (the probe is Turgon's). */
function tableRoutes(routes: DesiredSandbox["ingress"]["routes"] & {}): IngressRoute[] {
  return routes.map(({ prefix, port, stripPrefix }) => ({ prefix, port, stripPrefix }));
}

/** The node-wide parts of egress: the address floor, and resolvers for `dns.mode: trusted`. */
export interface EgressSettings {
  addresses: AddressRules;
  /** IPv4 resolvers a guest's DNS goes to in trusted mode (the host's own when unset). */
  dnsTrustedServers?: string[];
}

export interface SandboxContext {
  runtime: SandboxRuntime;
  log: Logger;
  onChange: (sandbox: ManagedSandbox) => void;
  ingressHeaderTimeoutMs: number;
  nodeName: string;
  audit: (event: EgressAuditEvent) => void;
  onTiming: (kind: Timing, seconds: number) => void;
  /** Where the VM's QEMU pid is noted while it runs (so what outlives this process is found). */
  records: Pick<VmRecords, "save" | "remove">;
  checkpoints: Checkpoints;
  egress: EgressSettings;
  /**
   * SSH became ready, failed or closed. In process the API reads SSH's state
   * when asked; a supervisor reports it to the agent.
   */
  onSshChange?: () => void;
}

/**
 * The egress hooks of a sandbox: made once, kept across suspend and resume,
 * so a secret's placeholder stays the same and files holding it stay valid.
 */

/**
 * One sandbox on this node: its desired state and the VM that realises it.
 *
 * Transitions (boot, suspend, resume) run one at a time in the order they were
 * asked for. So a sandbox told to suspend while it is still booting finishes
 * booting first (phase stays Booting), then suspends: a half-booted VM has no
 * consistent disk to checkpoint, and cancelling QEMU's start is not something
 * Gondolin offers. Suspend is disk-only (Gondolin's `vm.checkpoint`): processes
 * and memory are gone after resume, which restarts `command`.
 */
export class ManagedSandbox implements SandboxHandle {
  desired: DesiredSandbox;
  phase: AgentSandboxPhase;
  reason?: string;
  message?: string;
  startedAt?: string;
  /** How the current VM started (absent while none runs). */
  startedFrom?: StartedFrom;
  /**
   * Set for a VM booted warm for a pool (`options.warm`): until claimed it
   * runs nothing, has no ingress, env or secrets, and egress is denied.
   */
  readonly warm?: WarmState;
  vm?: SandboxVm;
  ingress?: IngressAccess;
  /** SSH into the guest while `desired.ssh.enabled` and the VM runs. */
  readonly ssh: SandboxSsh;
  private lastActivity?: number;
  /** Whether the guest's routes serve, probed while the VM runs with ingress on. */
  private readiness?: RouteReadiness;
  private guard: EgressGuard;
  private egress?: SandboxEgress;
  /** The sandbox the auditor names in egress events: changed in place when a warm VM is claimed. */
  private readonly auditSubject: { uid: string; name: string; namespace: string };
  private supervisor?: NodeJS.Timeout;
  private stopping = false;
  private work: Promise<void> = Promise.resolve();
  /** The checkpoint this sandbox's disk lives in while it is suspended (or was adopted). */
  private checkpoint?: CheckpointRecord;
  private staleCheckpoint = false;

  private readonly runtime: SandboxRuntime;
  private readonly log: Logger;
  private readonly onChange: (sandbox: ManagedSandbox) => void;
  private readonly ingressHeaderTimeoutMs: number;
  private readonly nodeName: string;
  private readonly audit: (event: EgressAuditEvent) => void;
  private readonly onTiming: (kind: Timing, seconds: number) => void;
  private readonly records: Pick<VmRecords, "save" | "remove">;
  private readonly checkpoints: Checkpoints;
  private readonly egressSettings: EgressSettings;

  constructor(
    desired: DesiredSandbox,
    context: SandboxContext,
    options: { warm?: { poolUid: string } } = {},
  ) {
    this.desired = desired;
    if (options.warm) this.warm = { poolUid: options.warm.poolUid, claimed: false };
    this.auditSubject = { uid: desired.uid, name: desired.name, namespace: desired.namespace };
    this.egressSettings = context.egress;
    this.guard = new EgressGuard(desired.policy, context.egress.addresses);
    this.runtime = context.runtime;
    this.log = context.log;
    this.onChange = context.onChange;
    this.ingressHeaderTimeoutMs = context.ingressHeaderTimeoutMs;
    this.nodeName = context.nodeName;
    this.audit = context.audit;
    this.onTiming = context.onTiming;
    this.records = context.records;
    this.checkpoints = context.checkpoints;
    this.ssh = new SandboxSsh(context.log.child({ uid: desired.uid, component: "ssh" }), () =>
      context.onSshChange?.(),
    );
    // A checkpoint already on disk for this UID belongs to a sandbox suspended
    // under a previous agent process: pick it up if it holds the same VM (it
    // is discarded in start() otherwise; another image could not resume it).
    const saved = this.checkpoints.loadSync(desired.uid);
    if (saved && saved.bootIdentity === bootIdentity(desired)) this.checkpoint = saved;
    else this.staleCheckpoint = saved !== undefined;
    if (desired.operatingMode === "Suspended") {
      this.phase = "Suspended";
      [this.reason, this.message] = this.suspendedReason();
    } else this.phase = "Booting";
  }

  observe(): ObservedSandbox {
    return {
      uid: this.desired.uid,
      name: this.desired.name,
      namespace: this.desired.namespace,
      generation: this.desired.generation,
      phase: this.phase,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.message ? { message: this.message } : {}),
      ...(this.startedAt ? { startedAt: this.startedAt } : {}),
      ...(this.lastActivity ? { lastActivityAt: new Date(this.lastActivity).toISOString() } : {}),
      // Read from the guest's routing table, so edits made inside the guest show.
      routes: this.vm && this.phase === "Running" ? this.vm.getIngressRoutes() : [],
      ...(this.phase === "Running" && this.desired.ingress.enabled
        ? { ingressReady: this.readiness?.current() ?? NOT_PROBED }
        : {}),
      secretNames: this.egress?.secrets.names() ?? [],
      ...(this.startedFrom && this.vm ? { startedFrom: this.startedFrom } : {}),
    };
  }

  /** A warm VM no sandbox has claimed yet. */
  get unclaimedWarm(): boolean {
    return this.warm !== undefined && !this.warm.claimed;
  }

  /**
   * Notes ingress or exec activity. Called on every request, so it only
   * stores a time (at most once a second) and emits no event: the new value
   * goes out with the next event or GET.
   */
  touch(now = Date.now()): void {
    if (this.lastActivity === undefined || now - this.lastActivity >= ACTIVITY_RESOLUTION_MS)
      this.lastActivity = now;
  }

  private setPhase(phase: AgentSandboxPhase, reason?: string, message?: string): void {
    // Once stopping, a transition still finishing must not report the sandbox alive.
    if (this.stopping && phase !== "Stopping") return;
    this.phase = phase;
    this.reason = reason;
    this.message = message;
    this.onChange(this);
  }

  /** Runs `step` after every transition asked for before it; skipped once the sandbox stops. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.work.then(() => (this.stopping ? undefined : step()));
    this.work = next.catch((error) =>
      this.log.error({ uid: this.desired.uid, err: error }, "sandbox transition failed"),
    );
    return this.work;
  }

  /** Brings a new sandbox up: boots it (resuming an adopted checkpoint), or leaves it suspended. */
  start(): Promise<void> {
    return this.enqueue(async () => {
      if (this.checkpoint)
        this.log.info(
          { uid: this.desired.uid },
          "found the disk checkpoint of a suspended sandbox",
        );
      if (this.staleCheckpoint) {
        this.log.info(
          { uid: this.desired.uid },
          "discarding a disk checkpoint made for a different image, resources or env",
        );
        await this.checkpoints.remove(this.desired.uid);
      }
      if (this.desired.operatingMode === "Running") await this.boot();
      else if (this.phase !== "Suspended") this.markSuspended();
    });
  }

  private suspendedReason(noDisk?: string): [reason: string, message: string] {
    return this.checkpoint
      ? ["Checkpointed", "the VM is stopped and its disk saved; resuming boots from that disk"]
      : ["NotCheckpointed", noDisk ?? "no VM has run yet; resuming boots a fresh one"];
  }

  private markSuspended(noDisk?: string): void {
    this.setPhase("Suspended", ...this.suspendedReason(noDisk));
  }

  private egressHooks(): SandboxEgress {
    const { desired } = this;
    this.egress ??= createSandboxEgress({
      guard: this.guard,
      node: this.nodeName,
      sandbox: this.auditSubject,
      secrets: desired.policy.secrets,
      emit: this.audit,
    });
    return this.egress;
  }

  /**
   * The env of every new guest process (and SSH session): spec.env and the
   * placeholders of the secrets in force now, never values.
   */
  private guestEnv(egress = this.egressHooks()): Record<string, string> {
    return { ...this.desired.env, ...egress.secrets.placeholderEnv() };
  }

  private vmSpec(egress: SandboxEgress): VmSpec {
    const { desired } = this;
    const dnsMode = desired.policy.dns?.mode ?? "synthetic";
    const trusted = this.egressSettings.dnsTrustedServers;
    return {
      image: desired.image,
      cpus: desired.resources.cpus,
      memoryMiB: desired.resources.memoryMiB,
      // Placeholders change live, so they come with each exec (withLiveEnv), not the boot.
      env: desired.env,
      httpHooks: egress.secrets.httpHooks,
      dns: {
        mode: dnsMode,
        ...(dnsMode === "trusted" && trusted ? { trustedServers: trusted } : {}),
      },
      ...(desired.rootfsMode ? { rootfsMode: desired.rootfsMode } : {}),
    };
  }

  /**
   * The routes a resumed guest gets back: its own table at suspend, unless
   * the spec's routes changed while it was suspended.
   */
  private routesToApply(): IngressRoute[] | undefined {
    const specRoutes = this.desired.ingress.routes;
    const saved = this.checkpoint;
    if (saved && isDeepStrictEqual(saved.specRoutes, specRoutes)) return saved.guestRoutes;
    return specRoutes;
  }

  /**
   * Boots the VM (from the checkpoint when the sandbox was suspended),
   * enables ingress, applies routes and starts the command.
   */
  private async boot(): Promise<void> {
    const { desired } = this;
    const resumeFrom = this.checkpoint ? this.checkpoints.diskPath(desired.uid) : undefined;
    if (resumeFrom) this.setPhase("Booting", "Resuming", "booting from the saved disk");
    else if (this.phase !== "Booting") this.setPhase("Booting");
    const egress = this.egressHooks();
    const started = performance.now();
    let vm: SandboxVm | undefined;
    try {
      vm = withLiveEnv(
        resumeFrom
          ? await this.runtime.resume(resumeFrom, this.vmSpec(egress))
          : await this.runtime.launch(this.vmSpec(egress)),
        () => this.guestEnv(egress),
      );
      this.vm = vm;
      const pid = vm.getHostPid();
      if (pid) await this.records.save(desired.uid, pid);
      if (this.stopping) return;
      this.startedFrom = resumeFrom ? "resume" : "boot";
      // A warm VM waits for its claim with nothing of a sandbox's: no ingress, command or SSH.
      if (!this.unclaimedWarm) {
        await this.front(vm, this.routesToApply());
        // startedAt is the sandbox's first start (the operator counts ttl from it);
        // a resume instead counts as activity, so idle time starts again.
        this.startedAt ??= new Date().toISOString();
      }
      if (resumeFrom) this.lastActivity = Date.now();
      // The checkpoint is now the backing file of the running VM's overlay: kept, not current.
      this.checkpoint = undefined;
      this.watchForExit(vm);
      this.startReadiness(vm);
      const seconds = (performance.now() - started) / 1000;
      this.onTiming(resumeFrom ? "resume" : "boot", seconds);
      this.log.info(
        { uid: desired.uid, ms: Math.round(seconds * 1000), resumed: Boolean(resumeFrom) },
        "sandbox running",
      );
      this.setPhase("Running");
    } catch (error) {
      this.log.error(
        { uid: desired.uid, err: error },
        resumeFrom ? "sandbox failed to resume" : "sandbox failed to boot",
      );
      await this.teardown(vm);
      this.setPhase("Failed", resumeFrom ? "ResumeFailed" : "BootFailed", (error as Error).message);
    }
  }

  /**
   * What a sandbox adds to its running VM: the ingress gateway, the guest's
   * routes, the command (started with the sandbox's env) and SSH.
   */
  private async front(vm: SandboxVm, routes: IngressRoute[] | undefined): Promise<void> {
    const { desired } = this;
    this.ingress = await vm.enableIngress({
      listenHost: "127.0.0.1",
      listenPort: 0,
      allowWebSockets: desired.ingress.websockets,
      upstreamHeaderTimeoutMs: this.ingressHeaderTimeoutMs,
      hooks: ingressHooks(() => this.desired),
    });
    if (routes) vm.setIngressRoutes(tableRoutes(routes));
    if (desired.command) await this.startCommand(vm, desired.command);
    // Before Running, so a running sandbox with SSH on has it ready; a
    // failure is reported by the SSH endpoints, not by failing the VM.
    if (desired.ssh.enabled) await this.ssh.open(vm, this.guestEnv());
  }

  /**
   * Binds this running warm VM to a sandbox: its policy and secrets (host
   * side: the guest gets placeholders, per exec), its env (the command is
   * started with it, and every exec gets it), ingress and routes, SSH. The
   * sandbox is Running without a boot. Refused (ClaimRefused) unless the VM
   * is warm, unclaimed and running; a failure after that leaves the sandbox
   * Failed (ClaimFailed), its VM stopped. Resolves once Running or Failed.
   */
  claim(desired: DesiredSandbox): Promise<void> {
    const warm = this.warm;
    if (!warm) throw new ClaimRefused("this VM was not booted warm");
    if (warm.claimed) throw new ClaimRefused("this warm VM is claimed already");
    const vm = this.vm;
    if (this.phase !== "Running" || !vm || this.stopping)
      throw new ClaimRefused(`this warm VM is ${this.stopping ? "stopping" : this.phase}`);
    // At once: a second claim is refused from here on.
    warm.claimed = true;
    const placeholder = this.desired.uid;
    return this.enqueue(async () => {
      const started = performance.now();
      this.desired = desired;
      Object.assign(this.auditSubject, {
        uid: desired.uid,
        name: desired.name,
        namespace: desired.namespace,
      });
      this.guard.update(desired.policy);
      this.egressHooks().secrets.update(desired.policy.secrets);
      this.startedFrom = "warmPool";
      this.setPhase("Booting", "ClaimingWarmVM", `binding a warm VM of pool ${warm.poolUid}`);
      try {
        // The QEMU record is the sandbox's now (in process; a supervisor keeps its own).
        const pid = vm.getHostPid();
        if (pid) {
          await this.records.remove(placeholder);
          await this.records.save(desired.uid, pid);
        }
        await this.front(vm, desired.ingress.routes);
        this.startedAt = new Date().toISOString();
        this.startReadiness(vm);
        this.log.info(
          {
            uid: desired.uid,
            warmVm: placeholder,
            pool: warm.poolUid,
            ms: Math.round(performance.now() - started),
          },
          "claimed a warm VM",
        );
        this.setPhase("Running");
      } catch (error) {
        this.log.error({ uid: desired.uid, err: error }, "claiming a warm VM failed");
        await this.teardown(vm);
        this.setPhase("Failed", "ClaimFailed", (error as Error).message);
      }
    });
  }

  /**
   * Takes a VM down, in the one order every path uses: what fronts it, then
   * the VM and its record.
   */
  private async teardown(
    vm: SandboxVm | undefined,
    options: { stopped?: boolean; strict?: boolean } = {},
  ): Promise<void> {
    await this.closeFront();
    await this.releaseVm(vm, options);
  }

  /** Closes what fronts the VM: SSH, the route probes and the ingress gateway. */
  private async closeFront(): Promise<void> {
    await this.ssh.close();
    this.stopReadiness();
    await this.ingress?.close().catch(() => {});
    this.ingress = undefined;
  }

  /**
   * Closes the VM (unless `stopped`: a checkpoint already stopped it) and
   * forgets its record. A VM that fails to close is gone either way, so that
   * is only logged, unless `strict` (a deliberate stop reports it).
   */
  private async releaseVm(
    vm: SandboxVm | undefined,
    options: { stopped?: boolean; strict?: boolean } = {},
  ): Promise<void> {
    if (this.vm === vm) this.vm = undefined;
    if (vm && !options.stopped)
      await vm.close().catch((error: unknown) => {
        if (options.strict) throw error;
        this.log.warn({ uid: this.desired.uid, err: error }, "the VM did not close cleanly");
      });
    await this.records.remove(this.desired.uid);
  }

  /** Probes the guest's routes until the VM stops; each change of verdict is an event. */
  private startReadiness(vm: SandboxVm): void {
    this.stopReadiness();
    if (!this.ingress || !this.desired.ingress.enabled) return;
    this.readiness = new RouteReadiness({
      gateway: this.ingress,
      routes: () => vm.getIngressRoutes(),
      probes: () => this.desired.ingress.routes ?? [],
      onChange: () => this.onChange(this),
    });
    this.readiness.start();
  }

  private stopReadiness(): void {
    this.readiness?.stop();
    this.readiness = undefined;
  }

  /** Starts the service detached, so the guest's exec channel stays free. */
  private async startCommand(vm: SandboxVm, argv: string[]): Promise<void> {
    const result = await vm.exec([
      "/bin/sh",
      "-c",
      `setsid "$@" >${COMMAND_LOG} 2>&1 </dev/null &`,
      "turgon-command",
      ...argv,
    ]);
    if (result.exitCode !== 0) throw new Error(`command did not start: ${result.stderr.trim()}`);
  }

  /** A VM whose QEMU process disappears without being asked to is reported Failed. */
  private watchForExit(vm: SandboxVm): void {
    const pid = vm.getHostPid();
    if (!pid) return;
    this.supervisor = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(this.supervisor);
        if (this.stopping || this.vm !== vm) return;
        this.log.warn({ uid: this.desired.uid, pid }, "VM exited unexpectedly");
        // Release what Gondolin still holds for it (gateway, sockets, overlay disk).
        this.vm = undefined;
        void this.teardown(vm);
        this.setPhase("Failed", "VMExited", `the QEMU process (pid ${pid}) exited unexpectedly`);
      }
    }, 1000);
    this.supervisor.unref();
  }

  /**
   * Checkpoints the VM's disk to `<state-dir>/checkpoints/<uid>.qcow2` and
   * stops it. The sandbox keeps its place (and capacity) on the node.
   */
  private async suspend(): Promise<void> {
    const vm = this.vm;
    if (!vm) return;
    const { uid } = this.desired;
    this.setPhase("Suspending");
    const started = performance.now();
    clearInterval(this.supervisor);
    const guestRoutes = vm.getIngressRoutes();
    // What fronts the VM closes first: nothing reaches a guest whose disk is being saved.
    await this.closeFront();
    const spec = this.vmSpec(this.egressHooks());
    try {
      if (!this.runtime.canCheckpoint(spec)) {
        await this.releaseVm(vm, { strict: true });
        this.markSuspended(
          `rootfsMode ${this.desired.rootfsMode ?? "of the image"} keeps no disk state: resuming boots a fresh disk`,
        );
        return;
      }
      await this.checkpoints.prepare();
      // Gondolin syncs the guest's filesystems, stops QEMU and moves the VM's
      // qcow2 overlay to this path (rebased onto the image if it was itself a resume).
      await vm.checkpoint(this.checkpoints.diskPath(uid));
      await this.releaseVm(vm, { stopped: true });
      this.checkpoint = {
        uid,
        bootIdentity: bootIdentity(this.desired),
        guestRoutes,
        ...(this.desired.ingress.routes ? { specRoutes: this.desired.ingress.routes } : {}),
        createdAt: new Date().toISOString(),
      };
      await this.checkpoints.save(this.checkpoint);
      const seconds = (performance.now() - started) / 1000;
      this.onTiming("suspend", seconds);
      this.log.info({ uid, ms: Math.round(seconds * 1000) }, "sandbox suspended");
      this.markSuspended();
    } catch (error) {
      this.log.error({ uid, err: error }, "sandbox failed to suspend");
      await this.releaseVm(vm);
      this.checkpoint = undefined;
      await this.checkpoints.remove(uid).catch(() => {});
      this.setPhase("Failed", "SuspendFailed", (error as Error).message);
    }
  }

  /** Suspends or resumes until the VM matches the desired operatingMode. */
  private async reconcileMode(): Promise<void> {
    const want = this.desired.operatingMode;
    if (want === "Suspended" && this.phase === "Running") await this.suspend();
    else if (want === "Running" && this.phase === "Suspended") await this.boot();
  }

  /** Enables or closes SSH in the running VM to match `desired.ssh.enabled`. */
  private async reconcileSsh(): Promise<void> {
    if (!this.desired.ssh.enabled) await this.ssh.close();
    else if (this.vm && this.phase === "Running") await this.ssh.open(this.vm, this.guestEnv());
  }

  /**
   * Applies what changes without a new VM: routes, the egress policy
   * (secrets too: values, hosts and names), SSH on or off, and operatingMode
   * (suspend or resume). SSH and mode changes queue behind any transition in
   * progress.
   */
  applyLive(desired: DesiredSandbox): void {
    const modeChanged = desired.operatingMode !== this.desired.operatingMode;
    const sshChanged = desired.ssh.enabled !== this.desired.ssh.enabled;
    this.desired = desired;
    this.guard.update(desired.policy);
    const names = this.egress?.secrets.update(desired.policy.secrets);
    if (names && (names.added.length > 0 || names.removed.length > 0)) {
      this.log.info({ uid: desired.uid, ...names }, "secret names changed live");
      // New SSH sessions source the env file: rewrite it (sessions already open keep theirs).
      // Not only when Running: SSH may be opening in a VM still booting; off, it is a no-op.
      if (this.vm) void this.ssh.refreshEnv(this.vm, this.guestEnv());
    }
    if (this.vm && this.phase === "Running" && desired.ingress.routes)
      this.vm.setIngressRoutes(tableRoutes(desired.ingress.routes));
    this.onChange(this);
    if (sshChanged) void this.enqueue(() => this.reconcileSsh());
    if (modeChanged) void this.enqueue(() => this.reconcileMode());
  }

  /**
   * Stops the sandbox for good, after any transition in progress. Its
   * checkpoint goes too, except on agent shutdown (`keepSuspended`) for a
   * sandbox that is suspended: its disk then waits for the next agent.
   */
  async stop(options: { keepSuspended?: boolean } = {}): Promise<void> {
    if (this.phase !== "Failed") this.setPhase("Stopping");
    this.stopping = true;
    clearInterval(this.supervisor);
    await this.work;
    clearInterval(this.supervisor);
    await this.teardown(this.vm, { strict: true });
    this.egress?.auditor.close();
    if (!(options.keepSuspended && this.checkpoint))
      await this.checkpoints.remove(this.desired.uid);
  }

  hostPid(): number | undefined {
    return this.vm?.getHostPid() ?? undefined;
  }

  /** In process, nothing outlives the agent: the VM stops (a suspended disk is kept). */
  detach(): Promise<void> {
    return this.stop({ keepSuspended: true });
  }

  gateway(): { host: string; port: number } | undefined {
    return this.ingress ? { host: this.ingress.host, port: this.ingress.port } : undefined;
  }

  attachExec(socket: WebSocket, start: ExecStart, log: Logger): void {
    const vm = this.vm;
    if (this.phase !== "Running" || !vm) {
      send(socket, { type: "error", message: `sandbox ${this.desired.uid} is ${this.phase}` });
      socket.close(1008, "sandbox not running");
      return;
    }
    bridgeExec(socket, vm, start, log, () => this.touch());
  }

  sshState(): SupervisorSsh {
    const state = this.ssh.state();
    if (state.state !== "ready") return state;
    const { user, host, port, identityFile } = state.access;
    return { state: "ready", user, host, port, identityFile };
  }

  async sshCredentials(): Promise<SshCredentials> {
    const state = this.ssh.state();
    if (state.state !== "ready") throw new Error(`SSH is ${state.state}`);
    return this.ssh.credentials(state.access);
  }

  trackTunnel(end: () => void): () => void {
    return this.ssh.track(end);
  }
}
