/**
 * The protocol between the node agent and a sandbox's supervisor: the small
 * process that holds one Gondolin VM (and its egress hooks, ingress gateway,
 * exec and SSH), so the VM outlives the agent. HTTP and WebSocket over a Unix
 * socket, `<state-dir>/supervisors/<uid>/control.sock` (mode 0600): only the
 * agent's user reaches it, so desired state (secret values included) travels
 * here as it does operator → agent, and never to a log.
 *
 * - `GET /hello` → `SupervisorHello` (who answers: build version, pids).
 * - `GET /state` → `SupervisorState` (desired and observed; what a starting
 *   agent re-adopts).
 * - `PUT /desired` ← `DesiredSandbox`: the first one boots the VM; later ones
 *   are live changes (routes, policy and secrets, SSH, operatingMode). A
 *   change of boot identity is the agent's to make: it stops this supervisor
 *   and starts another.
 * - `GET /events` → newline-delimited `SupervisorState`, the current one first,
 *   then one per change, until the supervisor exits.
 * - `POST /stop` ← `SupervisorStop`: tears the VM down; the process exits.
 * - `POST /exec` ← `ExecOnceRequest` → `ExecOnceResult`; WebSocket `GET /exec`
 *   speaks the agent's exec frames (see `../agent/exec.ts`) unchanged.
 * - `GET /ssh/credentials` → `SshCredentials`; the forwarded port is in the state.
 * - `PUT /front` ← `SupervisorFront`: the credentials of the sandbox's own
 *   ingress front (its port is in the hello), which serves the sandbox's URL
 *   while the agent is away.
 * - `POST /touch` ← `SupervisorTouch`: activity the agent saw (ingress, SSH
 *   tunnels), so lastActivityAt survives an agent restart.
 * - `PUT /warm` ← `SupervisorWarm`: instead of a first `PUT /desired`, boots
 *   a warm VM for a pool: a placeholder desired state (its uid is the
 *   supervisor's own, nothing run, no env or secrets, egress denied, ingress
 *   off). The state then carries `warm` (its pool) and the placeholder.
 * - `POST /claim` ← `DesiredSandbox`: binds the running warm VM to a sandbox
 *   (another uid): its policy, secrets, env, command, routes and SSH are
 *   applied, and it is Running at once. From then on `desired` is that
 *   sandbox's (later `PUT /desired` name it), while the supervisor keeps its
 *   own uid (socket, record, spool): a starting agent adopts it by
 *   `desired.uid`. Claiming twice, or a VM not warm or not running, is 409.
 * - `PUT /ingress-routes` ← routes: sets the guest's table as the guest itself
 *   could (tests use it to stand for an edit inside the guest).
 */
import { z } from "zod";
import { DesiredSandbox, ObservedSandbox } from "../agent/index.ts";
import { ObservedRoute } from "../crd/sandbox.ts";

/** The socket's name inside a supervisor's directory. */
export const SUPERVISOR_SOCKET = "control.sock";
/** The record a starting agent finds a supervisor by, beside its socket. */
export const SUPERVISOR_RECORD = "record.json";

/**
 * This protocol's version. A change an older agent or supervisor cannot
 * follow bumps it; a starting agent adopts only supervisors that speak its
 * own (any build: an upgraded agent keeps the VMs of the one before).
 */
export const SUPERVISOR_PROTOCOL = 1;

/*
 * What the agent reads from a supervisor (hello, record, state) is parsed
 * leniently: fields a later build adds are dropped, not refused, so an agent
 * rolled back does not reap the VMs of a newer one. A change an older agent
 * must not ignore bumps SUPERVISOR_PROTOCOL instead.
 */
export const SupervisorHello = z.object({
  uid: z.string(),
  protocol: z.int(),
  /** The build of the supervisor (the agent's version when it was started). */
  version: z.string(),
  pid: z.int(),
  qemuPid: z.int().optional(),
  /**
   * The QEMU process's start time (field 22 of /proc/<pid>/stat, clock ticks
   * since boot): a pid is signalled only while it still names that process.
   */
  qemuStartTime: z.int().min(0).optional(),
  startedAt: z.iso.datetime(),
  /** The port of the sandbox's ingress front (see `SupervisorFront`), bound before hello answers. */
  frontPort: z.int().min(1).max(65_535).optional(),
});
export type SupervisorHello = z.infer<typeof SupervisorHello>;

/** `record.json`: written by the supervisor, read by a starting agent. */
export const SupervisorRecord = SupervisorHello.extend({
  /** The generation of the desired state the supervisor last took. */
  generation: z.int().optional(),
  /** Its audit spool, which the agent ships and removes once this supervisor is gone. */
  spoolDir: z.string().optional(),
});
export type SupervisorRecord = z.infer<typeof SupervisorRecord>;

/** Where the guest's SSH stands, and the loopback port its sshd is forwarded to. */
export const SupervisorSsh = z.discriminatedUnion("state", [
  z.strictObject({ state: z.literal("off") }),
  z.strictObject({ state: z.literal("starting") }),
  z.strictObject({ state: z.literal("failed"), message: z.string() }),
  z.strictObject({
    state: z.literal("ready"),
    user: z.string(),
    host: z.string(),
    port: z.int().min(1).max(65_535),
    /** The host file holding the private key (removed when SSH closes); never its content. */
    identityFile: z.string(),
  }),
]);
export type SupervisorSsh = z.infer<typeof SupervisorSsh>;

/** What the supervisor reports: the sandbox as the agent API shows it, and what fronts it. */
export const SupervisorObserved = z.object({
  sandbox: ObservedSandbox,
  /** The VM's Gondolin ingress gateway on the host's loopback, while it serves. */
  gateway: z.strictObject({ host: z.string(), port: z.int() }).optional(),
  ssh: SupervisorSsh,
  qemuPid: z.int().optional(),
  qemuStartTime: z.int().min(0).optional(),
  /**
   * How long each boot, resume and suspend took, oldest first (a few per
   * sandbox): the agent's metrics take the ones it has not seen.
   */
  timings: z
    .array(z.strictObject({ kind: z.enum(["boot", "resume", "suspend"]), seconds: z.number() }))
    .default([]),
  /** What the VM runs on, once the first boot chose it (the SandboxNode reports it). */
  accelerator: z.enum(["kvm", "tcg"]).optional(),
  /**
   * Requests the sandbox's front answered since the supervisor started, by
   * status code: the agent counts the ones it has not seen
   * (`turgon_agent_front_requests_total`). Optional: added after the front.
   */
  frontRequests: z.record(z.string().regex(/^[1-5][0-9]{2}$/), z.int().min(0)).optional(),
});
export type SupervisorObserved = z.infer<typeof SupervisorObserved>;

/** `GET /state` and each line of `GET /events`. */
export const SupervisorState = SupervisorObserved.extend({
  /** Absent until the agent has PUT the first desired state. */
  desired: DesiredSandbox.optional(),
  /**
   * Set when the VM was booted warm (`PUT /warm`): its pool, and whether a
   * sandbox claimed it. Unclaimed, `desired` is the placeholder.
   */
  warm: z.object({ poolUid: z.string(), claimed: z.boolean() }).optional(),
});
export type SupervisorState = z.infer<typeof SupervisorState>;

export const SupervisorStop = z.strictObject({
  /** Keep a suspended sandbox's disk checkpoint for the next supervisor. */
  keepSuspended: z.boolean().default(false),
});
export type SupervisorStop = z.infer<typeof SupervisorStop>;

export const SupervisorIngressRoutes = z.array(ObservedRoute);

/**
 * `PUT /front`: how the sandbox's ingress front authenticates its callers,
 * the same as the agent's ingress port: mutual TLS with the agent's serving
 * certificate and client CA, or a bearer token (insecure mode). The agent
 * pushes it at start and on adoption, and again when its files rotate; the
 * supervisor keeps it in memory only.
 */
export const SupervisorFront = z.strictObject({
  auth: z.discriminatedUnion("mode", [
    z.strictObject({
      mode: z.literal("certificate"),
      cert: z.string().min(1),
      key: z.string().min(1),
      clientCa: z.string().min(1),
    }),
    z.strictObject({ mode: z.literal("token"), token: z.string().min(1) }),
  ]),
  /**
   * Which push this is: the agent (one id per agent process) and its count,
   * which grows with each reading of the credentials. A front refuses (409
   * StaleFront) a push older than the one it has from the same agent, so a
   * late retry of old material never replaces newer. Optional: added after
   * the route; a push without it is always taken.
   */
  generation: z
    .strictObject({ agent: z.string().min(1).max(64), sequence: z.int().min(0) })
    .optional(),
});
export type SupervisorFront = z.infer<typeof SupervisorFront>;

/** `PUT /warm`: boot a warm VM for pool `poolUid` with this placeholder desired state. */
export const SupervisorWarm = z.strictObject({
  poolUid: z.string().min(1),
  desired: DesiredSandbox,
});
export type SupervisorWarm = z.infer<typeof SupervisorWarm>;

/** `POST /touch`: ingress and SSH activity seen by the agent (at most every few seconds). */
export const SupervisorTouch = z.strictObject({ at: z.int().min(0) });
export type SupervisorTouch = z.infer<typeof SupervisorTouch>;
