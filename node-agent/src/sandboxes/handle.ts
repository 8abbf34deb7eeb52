import type {
  AgentSandboxPhase,
  DesiredSandbox,
  ExecOnceResult,
  ExecStart,
  ObservedSandbox,
  SshCredentials,
} from "@turgon/api/agent";
import type { SupervisorSsh } from "@turgon/api/supervisor";
import type { WebSocket } from "ws";
import type { Logger } from "../logger.ts";

/** A one-shot command in the guest, as the agent API's `POST .../exec` runs it. */
export interface GuestExecOptions {
  stdin?: string;
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  /** The supervisor's bound on the command (a signal cannot cross its socket). */
  timeoutMs?: number;
}

/**
 * What the agent (and its tests) reach of a sandbox's guest: one-shot exec and
 * the guest's own routing table. Gondolin's VM in process, or the supervisor's
 * VM through its socket.
 */
export interface GuestAccess {
  exec(command: string | string[], options?: GuestExecOptions): PromiseLike<ExecOnceResult>;
  /** Sets the guest's routing table as the guest itself could (tests stand in for the guest). */
  setIngressRoutes(routes: ObservedSandbox["routes"]): void | Promise<void>;
  getIngressRoutes(): ObservedSandbox["routes"];
}

/**
 * One sandbox as the agent's API, ingress port and manager see it. Two kinds:
 * the sandbox's supervisor process, reached over its Unix socket (QEMU: the
 * VM outlives the agent), and the sandbox in the agent's own process (the
 * simulated runtime, hundreds of fake sandboxes with no process each).
 */
export interface SandboxHandle {
  readonly desired: DesiredSandbox;
  readonly phase: AgentSandboxPhase;
  observe(): ObservedSandbox;
  /** Notes ingress or exec activity (idleTimeout); cheap, called per request. */
  touch(now?: number): void;
  /** Brings a new sandbox up (boot, or leave it suspended). */
  start(): Promise<void>;
  /**
   * Binds this running warm VM to the sandbox `desired` (no boot); resolves
   * once it runs (or failed while binding). Throws `ClaimRefused` when the
   * VM is not an unclaimed, running warm VM: then nothing changed.
   */
  claim(desired: DesiredSandbox): Promise<void>;
  /** A VM booted warm for a pool that no sandbox has claimed yet. */
  readonly unclaimedWarm: boolean;
  /** Applies a change that needs no new VM; resolves once the sandbox has taken it. */
  applyLive(desired: DesiredSandbox): void | Promise<void>;
  /** Stops the sandbox for good (its VM, and its supervisor if it has one). */
  stop(options?: { keepSuspended?: boolean }): Promise<void>;
  /**
   * Lets go of the sandbox without stopping it (agent shutdown): a supervised
   * VM goes on running; an in-process one cannot, so it stops (keeping a
   * suspended sandbox's checkpoint).
   */
  detach(): Promise<void>;
  /** The VM's ingress gateway on the host's loopback, while it serves. */
  gateway(): { host: string; port: number } | undefined;
  /** The guest, while the VM runs. */
  readonly vm?: GuestAccess | undefined;
  /** Serves an interactive exec session on `socket`, whose start frame was `start`. */
  attachExec(socket: WebSocket, start: ExecStart, log: Logger): void;
  sshState(): SupervisorSsh;
  sshCredentials(): Promise<SshCredentials>;
  /** Registers an SSH tunnel's `end`, called when SSH closes; returns its deregistration. */
  trackTunnel(end: () => void): () => void;
  /** The QEMU process, while the VM runs. */
  hostPid(): number | undefined;
}
