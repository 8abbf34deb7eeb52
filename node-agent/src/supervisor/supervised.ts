import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type {
  AgentSandboxPhase,
  DesiredSandbox,
  ExecStart,
  ObservedSandbox,
  SshCredentials,
} from "@turgon/api/agent";
import type {
  SupervisorFront,
  SupervisorHello,
  SupervisorSsh,
  SupervisorState,
} from "@turgon/api/supervisor";
import type { RawData, WebSocket } from "ws";
import { send } from "../exec/bridge.ts";
import type { Logger } from "../logger.ts";
import type { GuestAccess, GuestExecOptions, SandboxHandle } from "../sandboxes/handle.ts";
import { ClaimRefused, type Timing } from "../sandboxes/sandbox.ts";
import { SupervisorCallError, type SupervisorClient } from "./client.ts";
import { isSupervisor, processStartTime, waitGone } from "./process-identity.ts";
import { reapSupervisor, type SupervisorPids } from "./processes.ts";

/** lastActivityAt moves at most this often (as in the supervisor's own sandbox). */
const ACTIVITY_RESOLUTION_MS = 1000;
/** How often the agent's activity (ingress, SSH) is passed on to the supervisor, at most. */
const ACTIVITY_PUSH_MS = 5_000;
/** How often a broken event stream to a live supervisor is tried again, at most. */
const RESUBSCRIBE_ATTEMPTS = 20;

/** A push of the front's credentials that failed is tried again after this, doubling... */
const FRONT_RETRY_FIRST_MS = 250;
/** ...up to this (the front is not reported meanwhile: the agent's port serves). */
const FRONT_RETRY_MAX_MS = 10_000;

/** A WebSocket close code that may be sent on (1005 and 1006 only report). */
const sendableClose = (code: number) =>
  code === 1000 || (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) ? code : 1011;

export interface SupervisedOptions {
  stateDir: string;
  log: Logger;
  onChange: (sandbox: SupervisedSandbox) => void;
  /** Boot, resume and suspend durations, for the agent's metrics. */
  onTiming: (kind: Timing, seconds: number) => void;
  /** Requests the sandbox's front answered since the last report, by status code. */
  onFrontRequests?: (code: string, count: number) => void;
  /** The credentials of the supervisor's front (the agent's ingress port's); none: no front. */
  frontAuth?: () => SupervisorFront;
}

/**
 * A sandbox whose VM lives in its supervisor process. The agent keeps the
 * supervisor's last reported state (from its event stream) and forwards
 * changes, exec and SSH to it. When the stream ends and the process is gone,
 * the VM died with it: the sandbox is Failed (VMExited) and the QEMU the
 * supervisor left is killed.
 */
export class SupervisedSandbox implements SandboxHandle {
  desired: DesiredSandbox;
  /**
   * The supervisor's own id: its directory, socket, record and process are
   * named by it. The sandbox's UID, except for a VM booted warm, whose
   * supervisor keeps the id it was launched with after a sandbox claims it.
   */
  readonly supervisorId: string;
  /** A VM booted warm for this pool (`createWarm`), until claimed. */
  private warm?: { poolUid: string; claimed: boolean };
  private state?: SupervisorState;
  private client?: SupervisorClient;
  private pid?: number;
  /** The supervisor's start time, read when the agent first meets it: its pid is checked by it. */
  private pidStartTime?: number;
  /** The port of the sandbox's own ingress front, as the supervisor's hello reported it. */
  private frontPort?: number;
  /** Whether the front took the credentials last pushed: until then its port is not reported. */
  private frontTaken = false;
  private frontPushing?: Promise<void>;
  private frontPushAgain = false;
  private frontFailures = 0;
  private frontRetry?: NodeJS.Timeout;
  private lastActivity?: number;
  private activityPushed = 0;
  /** Set when the supervisor is gone, or never came up: what the sandbox reports then. */
  private failure?: { reason: string; message: string };
  private unsubscribe?: () => void;
  private detached = false;
  private stopping = false;
  private ready: Promise<void> = Promise.resolve();
  /** How many of the supervisor's timings the metrics have (those before adoption count as seen). */
  private timingsSeen = 0;
  /** How many of the front's requests the metrics have, by code (those before adoption count as seen). */
  private frontRequestsSeen: Record<string, number> = {};
  private readonly tunnels = new Set<() => void>();
  /** Names the sandbox's UID (the warm VM's id until a claim, then the claimant's and the VM's). */
  private log: Logger;
  private readonly options: SupervisedOptions;
  private readonly launch?: () => Promise<SupervisorClient>;

  private constructor(
    desired: DesiredSandbox,
    options: SupervisedOptions,
    launch?: () => Promise<SupervisorClient>,
    supervisorId = desired.uid,
  ) {
    this.desired = desired;
    this.supervisorId = supervisorId;
    this.options = options;
    if (launch) this.launch = launch;
    this.log = options.log.child({ uid: desired.uid });
  }

  /**
   * A warm VM for pool `poolUid`: `start()` launches its supervisor and boots
   * the VM with `placeholder` (its uid is the supervisor's id); `claim` binds it.
   */
  static createWarm(
    placeholder: DesiredSandbox,
    poolUid: string,
    options: SupervisedOptions,
    launch: () => Promise<SupervisorClient>,
  ): SupervisedSandbox {
    const sandbox = new SupervisedSandbox(placeholder, options, launch);
    sandbox.warm = { poolUid, claimed: false };
    return sandbox;
  }

  /** A new sandbox: `start()` launches its supervisor and hands it the desired state. */
  static create(
    desired: DesiredSandbox,
    options: SupervisedOptions,
    launch: () => Promise<SupervisorClient>,
  ): SupervisedSandbox {
    return new SupervisedSandbox(desired, options, launch);
  }

  /** A running supervisor found by a starting agent, with the state it reported. */
  static adopt(
    client: SupervisorClient,
    hello: Pick<SupervisorHello, "pid" | "frontPort"> & { uid?: string },
    state: SupervisorState & { desired: DesiredSandbox },
    options: SupervisedOptions,
  ): SupervisedSandbox {
    // The supervisor's id: a claimed warm VM's differs from the sandbox's UID.
    const sandbox = new SupervisedSandbox(state.desired, options, undefined, hello.uid);
    if (state.warm) sandbox.warm = { ...state.warm };
    sandbox.client = client;
    sandbox.pid = hello.pid;
    if (hello.frontPort) sandbox.frontPort = hello.frontPort;
    // It just answered as `pid`, so the process there now is the supervisor.
    void sandbox.identify(hello.pid);
    sandbox.timingsSeen = state.timings.length;
    sandbox.frontRequestsSeen = { ...state.frontRequests };
    sandbox.take(state);
    sandbox.subscribe();
    return sandbox;
  }

  get phase(): AgentSandboxPhase {
    if (this.failure) return "Failed";
    if (this.stopping) return "Stopping";
    return this.state?.sandbox.phase ?? this.initialPhase();
  }

  private initialPhase(): AgentSandboxPhase {
    return this.desired.operatingMode === "Suspended" ? "Suspended" : "Booting";
  }

  observe(): ObservedSandbox {
    const { desired } = this;
    const base: ObservedSandbox = this.state?.sandbox ?? {
      uid: desired.uid,
      name: desired.name,
      namespace: desired.namespace,
      generation: desired.generation,
      phase: this.initialPhase(),
      routes: [],
      secretNames: [],
    };
    const reported = base.lastActivityAt ? Date.parse(base.lastActivityAt) : 0;
    const last = Math.max(reported, this.lastActivity ?? 0);
    const { reason, message, ingressReady, ...rest } = base;
    const failed = this.failure;
    return {
      ...rest,
      phase: this.phase,
      ...(failed
        ? { reason: failed.reason, message: failed.message, routes: [] }
        : {
            ...(reason ? { reason } : {}),
            ...(message ? { message } : {}),
            ...(ingressReady ? { ingressReady } : {}),
          }),
      ...(last > 0 ? { lastActivityAt: new Date(last).toISOString() } : {}),
      // Only a front that has the agent's credentials: without them it drops
      // or refuses every request, and the router should use the agent's port.
      ...(this.frontPort && this.frontTaken && !failed ? { frontPort: this.frontPort } : {}),
    };
  }

  /**
   * Hands the front the agent's current credentials (at start, adoption and
   * rotation), one push at a time: a push asked for while one is under way
   * follows it, with whatever is current then. Resolves once the front took
   * them or this attempt failed, never rejects: a failed push is retried
   * (250 ms doubling to 10 s) until the front takes newer credentials or the
   * sandbox stops, and meanwhile the sandbox reports no front port.
   */
  pushFront(): Promise<void> {
    clearTimeout(this.frontRetry);
    this.frontRetry = undefined;
    if (this.frontPushing) {
      this.frontPushAgain = true;
      return this.frontPushing;
    }
    this.frontPushing = (async () => {
      do {
        this.frontPushAgain = false;
        await this.pushFrontOnce();
      } while (this.frontPushAgain && this.frontWanted());
    })().finally(() => {
      this.frontPushing = undefined;
    });
    return this.frontPushing;
  }

  private frontWanted(): boolean {
    return !this.failure && !this.stopping && !this.detached;
  }

  private async pushFrontOnce(): Promise<void> {
    const client = this.client;
    if (!this.options.frontAuth || !client || !this.frontPort || !this.frontWanted()) return;
    // Read now: a rotation since the push was asked for goes out at once.
    const auth = this.options.frontAuth();
    try {
      await client.putFront(auth);
    } catch (error) {
      // The front has a later push's credentials: this one is moot.
      if (error instanceof SupervisorCallError && error.code === "StaleFront") return;
      if (!this.frontWanted()) return;
      this.frontFailures++;
      const retryInMs = Math.min(
        FRONT_RETRY_MAX_MS,
        FRONT_RETRY_FIRST_MS * 2 ** Math.min(this.frontFailures - 1, 10),
      );
      this.log.error(
        { err: error, attempt: this.frontFailures, retryInMs },
        "the sandbox's front did not take the credentials: not reporting it until it does",
      );
      if (this.frontTaken) {
        this.frontTaken = false;
        this.options.onChange(this);
      }
      this.frontRetry = setTimeout(() => void this.pushFront(), retryInMs);
      this.frontRetry.unref();
      return;
    }
    this.frontFailures = 0;
    if (!this.frontTaken) {
      this.frontTaken = true;
      // Before the first state (at start) the supervisor's own report comes next anyway.
      if (this.state) this.options.onChange(this);
    }
  }

  private stopFrontPushes(): void {
    clearTimeout(this.frontRetry);
    this.frontRetry = undefined;
  }

  touch(now = Date.now()): void {
    if (this.lastActivity === undefined || now - this.lastActivity >= ACTIVITY_RESOLUTION_MS)
      this.lastActivity = now;
    // The supervisor keeps it too (a restarted agent reads it back), told at most this often.
    if (this.client && now - this.activityPushed >= ACTIVITY_PUSH_MS) {
      this.activityPushed = now;
      this.client.touch(now).catch(() => {});
    }
  }

  start(): Promise<void> {
    const launch = this.launch;
    if (!launch) return Promise.resolve();
    this.ready = (async () => {
      try {
        const client = await launch();
        this.client = client;
        const hello = await client.hello();
        this.pid = hello.pid;
        if (hello.frontPort) this.frontPort = hello.frontPort;
        await this.identify(this.pid);
        if (this.stopping) return;
        // Before the VM boots: the front serves once the sandbox runs. Until it
        // takes its credentials (retried) it is not reported, and the agent's port serves.
        await this.pushFront();
        const warm = this.warm;
        this.take(
          await (warm
            ? client.putWarm(warm.poolUid, this.desired)
            : client.putDesired(this.desired)),
        );
        this.subscribe();
      } catch (error) {
        this.log.error({ err: error }, "the sandbox's supervisor did not start");
        // Whatever did start of it goes: the sandbox is Failed until deleted or replaced.
        await reapSupervisor(this.options.stateDir, this.supervisorId, this.record()).catch(
          () => {},
        );
        this.fail("BootFailed", (error as Error).message);
      }
    })();
    return this.ready;
  }

  private async identify(pid: number): Promise<void> {
    const startTime = await processStartTime(pid);
    if (startTime !== undefined && this.pid === pid) this.pidStartTime = startTime;
  }

  /** True while the supervisor's process runs (never another process that got its pid). */
  private supervisorRuns(pid: number): Promise<boolean> {
    return isSupervisor(pid, this.supervisorId, this.pidStartTime);
  }

  /** Takes a state the supervisor reported; SSH tunnels end when SSH is no longer what they used. */
  private take(state: SupervisorState): void {
    const before = this.state?.ssh;
    this.state = state;
    // The supervisor keeps its last 100; a shorter list is a fresh count.
    if (state.timings.length < this.timingsSeen) this.timingsSeen = 0;
    for (const { kind, seconds } of state.timings.slice(this.timingsSeen))
      this.options.onTiming(kind, seconds);
    this.timingsSeen = state.timings.length;
    this.countFrontRequests(state.frontRequests ?? {});
    if (before?.state === "ready") {
      const now = state.ssh;
      if (now.state !== "ready" || now.port !== before.port) this.endTunnels();
    }
    this.options.onChange(this);
  }

  private countFrontRequests(counts: Record<string, number>): void {
    for (const [code, count] of Object.entries(counts)) {
      const seen = this.frontRequestsSeen[code] ?? 0;
      // A lower count is a fresh one (cannot happen within one supervisor, but costs nothing).
      const added = count >= seen ? count - seen : count;
      if (added > 0) this.options.onFrontRequests?.(code, added);
    }
    this.frontRequestsSeen = { ...counts };
  }

  private fail(reason: string, message: string): void {
    this.failure = { reason, message };
    this.stopFrontPushes();
    this.endTunnels();
    this.options.onChange(this);
  }

  private endTunnels(): void {
    for (const end of [...this.tunnels]) end();
    this.tunnels.clear();
  }

  /** Follows the supervisor's event stream until it ends; then finds out why. */
  private subscribe(attempt = 0): void {
    const client = this.client;
    if (!client || this.detached || this.stopping) return;
    this.unsubscribe = client.subscribe(
      (state) => {
        attempt = 0;
        this.take(state);
      },
      () => void this.streamEnded(attempt),
    );
  }

  private async streamEnded(attempt: number): Promise<void> {
    if (this.detached || this.stopping || this.failure) return;
    const pid = this.pid;
    if (pid && (await this.supervisorRuns(pid)) && attempt < RESUBSCRIBE_ATTEMPTS) {
      await sleep(250);
      this.subscribe(attempt + 1);
      return;
    }
    if (this.detached || this.stopping) return;
    const qemuPid = this.state?.qemuPid;
    this.log.warn({ pid, qemuPid }, "the sandbox's supervisor exited unexpectedly");
    await reapSupervisor(this.options.stateDir, this.supervisorId, this.record()).catch(
      (error: unknown) => this.log.warn({ err: error }, "reaping the supervisor's VM failed"),
    );
    this.fail(
      "VMExited",
      `the sandbox's supervisor (pid ${pid}) exited unexpectedly${qemuPid ? `; its QEMU (pid ${qemuPid}) was stopped` : ""}`,
    );
  }

  /** A warm VM no sandbox has claimed yet. */
  get unclaimedWarm(): boolean {
    return this.warm !== undefined && !this.warm.claimed;
  }

  /**
   * Binds this running warm VM to the sandbox `desired` (see
   * `ManagedSandbox.claim`); resolves once the supervisor reports it Running
   * or Failed. Throws ClaimRefused when the VM cannot take it (then nothing
   * changed and it is the caller's to stop).
   */
  async claim(desired: DesiredSandbox): Promise<void> {
    const warm = this.warm;
    if (!warm || warm.claimed) throw new ClaimRefused("not an unclaimed warm VM");
    await this.ready;
    const client = this.client;
    if (!client || this.failure || this.phase !== "Running")
      throw new ClaimRefused(`the warm VM is ${this.phase}`);
    warm.claimed = true;
    const placeholder = this.desired;
    this.desired = desired;
    try {
      this.take(await client.claim(desired));
      this.log = this.options.log.child({ uid: desired.uid, vm: this.supervisorId });
    } catch (error) {
      this.desired = placeholder;
      throw error instanceof SupervisorCallError && error.code === "ClaimRefused"
        ? new ClaimRefused(error.message)
        : error;
    }
  }

  async applyLive(desired: DesiredSandbox): Promise<void> {
    // Tunnels are this process's connections to the guest's forwarded sshd: the
    // supervisor cannot end them, and closing SSH (off, or a suspend) waits for them.
    if (!desired.ssh.enabled || desired.operatingMode === "Suspended") this.endTunnels();
    this.desired = desired;
    await this.ready;
    const client = this.client;
    if (!client || this.failure) return;
    this.take(await client.putDesired(desired));
  }

  async stop(options: { keepSuspended?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.stopFrontPushes();
    this.options.onChange(this);
    await this.ready;
    this.unsubscribe?.();
    this.endTunnels();
    const client = this.client;
    if (client && !this.failure) {
      try {
        await client.stop({ keepSuspended: options.keepSuspended ?? false });
      } catch (error) {
        this.log.warn({ err: error }, "the supervisor did not stop cleanly; killing it");
      }
    }
    // Gone by itself after a stop; whatever is left (a hung or dead one) is reaped.
    const pid = this.pid;
    if (pid) await waitGone(() => this.supervisorRuns(pid), 10_000);
    await reapSupervisor(this.options.stateDir, this.supervisorId, this.record());
  }

  /** Lets go of the supervisor (agent shutdown): its VM goes on. */
  async detach(): Promise<void> {
    this.detached = true;
    this.stopFrontPushes();
    await this.ready.catch(() => {});
    this.unsubscribe?.();
  }

  gateway(): { host: string; port: number } | undefined {
    return this.phase === "Running" ? this.state?.gateway : undefined;
  }

  get vm(): GuestAccess | undefined {
    const client = this.client;
    if (!client || this.phase !== "Running") return undefined;
    return {
      exec: (command: string | string[], options: GuestExecOptions = {}) =>
        client.exec({
          command,
          ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
          ...(options.env ? { env: options.env } : {}),
          ...(options.cwd ? { cwd: options.cwd } : {}),
          timeoutMs: options.timeoutMs ?? 60_000,
        }),
      setIngressRoutes: (routes) => client.setIngressRoutes(routes),
      getIngressRoutes: () => this.state?.sandbox.routes ?? [],
    };
  }

  /** Relays an exec session's frames, both ways and unchanged, to the supervisor's exec socket. */
  attachExec(socket: WebSocket, start: ExecStart, log: Logger): void {
    const client = this.client;
    if (!client || this.phase !== "Running") {
      send(socket, { type: "error", message: `sandbox ${this.desired.uid} is ${this.phase}` });
      socket.close(1008, "sandbox not running");
      return;
    }
    this.touch();
    const upstream = client.execSocket();
    const queued: { data: RawData; binary: boolean }[] = [];
    upstream.on("open", () => {
      upstream.send(JSON.stringify(start));
      for (const { data, binary } of queued.splice(0)) upstream.send(data, { binary });
    });
    socket.on("message", (data: RawData, binary: boolean) => {
      this.touch();
      if (upstream.readyState === upstream.OPEN) upstream.send(data, { binary });
      else if (upstream.readyState === upstream.CONNECTING) queued.push({ data, binary });
    });
    upstream.on("message", (data: RawData, binary: boolean) => {
      if (socket.readyState === socket.OPEN) socket.send(data, { binary });
    });
    upstream.on("close", (code, reason) => {
      if (socket.readyState === socket.OPEN) socket.close(sendableClose(code), reason);
    });
    upstream.on("error", (error) => {
      log.warn(
        { uid: this.desired.uid, err: error.message },
        "exec relay to the supervisor failed",
      );
      if (socket.readyState === socket.OPEN) {
        send(socket, { type: "error", message: `exec failed: ${error.message}` });
        socket.close(1011, "exec failed");
      }
    });
    socket.on("close", () => {
      if (upstream.readyState === upstream.OPEN) upstream.close(1000);
      else if (upstream.readyState === upstream.CONNECTING) upstream.terminate();
    });
  }

  sshState(): SupervisorSsh {
    // Off as soon as it is turned off: the supervisor's close may still be finishing.
    if (this.failure || !this.state || !this.desired.ssh.enabled) return { state: "off" };
    return this.state.ssh;
  }

  /**
   * The user and private key of the guest's sshd, read from the key file the
   * supervisor reports (0600, this user's: the supervisor runs as the agent),
   * not fetched over its socket for each connection. Never logged.
   */
  async sshCredentials(): Promise<SshCredentials> {
    const ssh = this.sshState();
    if (ssh.state !== "ready") throw new Error(`SSH is ${ssh.state}`);
    return { user: ssh.user, privateKey: await readFile(ssh.identityFile, "utf8") };
  }

  trackTunnel(end: () => void): () => void {
    this.tunnels.add(end);
    return () => this.tunnels.delete(end);
  }

  hostPid(): number | undefined {
    return this.failure ? undefined : this.state?.qemuPid;
  }

  /** What reaping needs of the supervisor: its pid and its QEMU's (with start times), as last known. */
  private record(): SupervisorPids | undefined {
    if (!this.pid) return undefined;
    const { qemuPid, qemuStartTime } = this.state ?? {};
    return {
      pid: this.pid,
      ...(this.pidStartTime !== undefined ? { startTime: this.pidStartTime } : {}),
      ...(qemuPid ? { qemuPid } : {}),
      ...(qemuPid && qemuStartTime !== undefined ? { qemuStartTime } : {}),
    };
  }

  /** What the supervisor's VM runs on, once it booted. */
  accelerator(): "kvm" | "tcg" | undefined {
    return this.state?.accelerator;
  }

  /** The supervisor's process id, once it runs. */
  supervisorPid(): number | undefined {
    return this.pid;
  }
}
