/**
 * The node agent's HTTP API: what the operator PUTs (desired state, keyed by
 * the Sandbox's UID) and what the agent reports back. Secret values travel
 * only here, operator → agent, never to the guest or a log.
 */
import { z } from "zod";
import { dnsLabel, envVarName } from "../crd/common.ts";
import { EgressPolicyFields, hostPattern } from "../crd/policy.ts";
import { ObservedRoute, SandboxIngress } from "../crd/sandbox.ts";

export const AGENT_API_PREFIX = "/v1";
/** The header the router sets on ingress requests to name their sandbox (by UID). */
export const SANDBOX_HEADER = "x-turgon-sandbox";
/**
 * Set by a sandbox's front on its own 421 (the request named another
 * sandbox: a stale or reused port), and stripped from what the guest
 * answers, so a guest's 421 is never taken for the front's.
 */
export const MISDIRECTED_HEADER = "x-turgon-misdirected";

export const sandboxUid = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    "must be a Kubernetes UID",
  );

/** A secret with its value resolved by the operator from a Kubernetes Secret. */
export const ResolvedSecret = z.strictObject({
  name: envVarName,
  hosts: z.array(hostPattern).min(1),
  value: z.string().min(1).max(65_536),
});

/** The effective egress policy: SandboxPolicy and inline rules merged by the operator. */
export const EffectivePolicy = z.strictObject({
  ...EgressPolicyFields,
  allowedHosts: z.array(hostPattern).default([]),
  secrets: z.array(ResolvedSecret).default([]),
  mode: z.enum(["enforce", "report"]).default("enforce"),
  policyName: z.string().min(1).max(253).optional().meta({
    description:
      "The SandboxPolicy these rules came from, named in audit events; absent when only inline rules apply.",
  }),
});
export type EffectivePolicy = z.infer<typeof EffectivePolicy>;

/** How the sandbox's current VM started: a cold boot, a resume from its disk checkpoint, or a claimed warm VM. */
export const StartedFrom = z.enum(["boot", "resume", "warmPool"]);
export type StartedFrom = z.infer<typeof StartedFrom>;

/**
 * The boot shape of a VM: what is fixed when it boots. A warm VM serves a
 * sandbox whose shape equals its pool's.
 */
export const BootShape = {
  image: z.string().min(1).max(255),
  resources: z.strictObject({
    cpus: z.int().min(1).max(64),
    memoryMiB: z.int().min(128).max(1_048_576),
  }),
  rootfsMode: z.enum(["readonly", "memory", "cow"]).optional(),
};

export const DesiredSandbox = z.strictObject({
  uid: sandboxUid,
  name: dnsLabel,
  namespace: dnsLabel,
  generation: z.int().min(0),
  image: BootShape.image,
  resources: BootShape.resources,
  env: z.record(envVarName, z.string().max(32_768)).default({}),
  command: z.array(z.string()).min(1).optional(),
  ingress: SandboxIngress.omit({ access: true })
    .extend({ enabled: z.boolean().default(false), websockets: z.boolean().default(true) })
    .default({ enabled: false, websockets: true }),
  policy: EffectivePolicy.default({ allowedHosts: [], secrets: [], mode: "enforce" }),
  rootfsMode: BootShape.rootfsMode,
  /** SSH into the guest (Gondolin's enableSsh), reached through the agent's SSH tunnel; toggles live. */
  ssh: z.strictObject({ enabled: z.boolean().default(false) }).default({ enabled: false }),
  /** Suspended: checkpoint the VM's disk and stop it; Running again resumes from the checkpoint. */
  operatingMode: z.enum(["Running", "Suspended"]).default("Running"),
  /**
   * The SandboxWarmPool this sandbox may claim a VM from. When the agent
   * first sees the sandbox (Running) and holds a ready warm VM of that pool
   * with the same image, resources and rootfsMode, it binds that VM to the
   * sandbox instead of booting one; otherwise it boots as without. A pool
   * the agent does not know is no error: the sandbox boots cold.
   */
  warmPool: z.strictObject({ uid: sandboxUid }).optional(),
});
export type DesiredSandbox = z.infer<typeof DesiredSandbox>;
export type DesiredSandboxInput = z.input<typeof DesiredSandbox>;

export const AgentSandboxPhase = z.enum([
  "Booting",
  "Running",
  "Suspending",
  "Suspended",
  "Failed",
  "Stopping",
]);
export type AgentSandboxPhase = z.infer<typeof AgentSandboxPhase>;

/** What the agent reports about one sandbox. Never contains secret values. */
export const ObservedSandbox = z.strictObject({
  uid: sandboxUid,
  name: z.string(),
  namespace: z.string(),
  generation: z.int(),
  phase: AgentSandboxPhase,
  reason: z.string().optional(),
  message: z.string().optional(),
  startedAt: z.iso.datetime().optional(),
  /** The last ingress request or exec session activity; the operator's idleTimeout reads it. */
  lastActivityAt: z.iso.datetime().optional(),
  routes: z.array(ObservedRoute),
  /**
   * Whether every route serves (its readiness probe passes), while ingress
   * is on and the VM runs; the operator's IngressReady and Ready follow it.
   */
  ingressReady: z.strictObject({ ready: z.boolean(), message: z.string() }).optional(),
  /** Secret names whose placeholders new guest processes get; names are added and removed live. */
  secretNames: z.array(z.string()),
  /**
   * The port of this sandbox's own ingress front on the agent's ingress host,
   * served by its supervisor, so the URL answers while the agent restarts.
   * Absent for sandboxes served only through the agent's ingress port.
   */
  frontPort: z.int().min(1).max(65_535).optional(),
  /** How the current VM started; absent until one has (or while suspended). */
  startedFrom: StartedFrom.optional(),
});
export type ObservedSandbox = z.infer<typeof ObservedSandbox>;

/**
 * `PUT /v1/warm-pools/:poolUid`: how many booted, idle VMs of one boot shape
 * this agent keeps for a SandboxWarmPool. Idempotent; a change of shape
 * replaces the pool's warm VMs. Warm VMs run nothing but the guest's init,
 * with no env, no secrets, egress denied and ingress off, until claimed.
 */
export const DesiredWarmPool = z.strictObject({
  /** The SandboxWarmPool's UID. */
  uid: sandboxUid,
  name: dnsLabel,
  namespace: dnsLabel,
  generation: z.int().min(0),
  ...BootShape,
  /** How many warm VMs this agent keeps (booting or ready). */
  replicas: z.int().min(0).max(100),
});
export type DesiredWarmPool = z.infer<typeof DesiredWarmPool>;
export type DesiredWarmPoolInput = z.input<typeof DesiredWarmPool>;

/** What the agent reports about one warm pool (`GET /v1/warm-pools`, and events). */
export const ObservedWarmPool = z.strictObject({
  uid: sandboxUid,
  name: z.string(),
  namespace: z.string(),
  /** The generation of the desired state this report follows. */
  generation: z.int(),
  /** `replicas` as last PUT. */
  desiredReplicas: z.int().min(0),
  /** Warm VMs that exist: booting or ready (claimed ones no longer count). */
  replicas: z.int().min(0),
  /** Warm VMs booted and ready to be claimed. */
  readyReplicas: z.int().min(0),
  /** Why the pool is short of its replicas, e.g. NoCapacity or BootFailed; absent when it is not. */
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type ObservedWarmPool = z.infer<typeof ObservedWarmPool>;

/** `GET /v1/warm-pools`. */
export const WarmPoolList = z.strictObject({ items: z.array(ObservedWarmPool) });
export type WarmPoolList = z.infer<typeof WarmPoolList>;

/**
 * SSH to a guest through its agent: `GET /v1/sandboxes/:uid/ssh/credentials`
 * answers these (404 while SSH is off, 409 while the VM is not running);
 * the WebSocket `GET /v1/sandboxes/:uid/ssh/tunnel` then carries the raw
 * SSH connection (binary frames) to the guest's SSH server. Only the
 * router's SSH gateway uses them; users never see these credentials.
 */
export const SshCredentials = z.strictObject({
  user: z.string().min(1),
  /** The private key (OpenSSH or PEM) the guest's SSH server accepts for `user`. */
  privateKey: z.string().min(1),
});
export type SshCredentials = z.infer<typeof SshCredentials>;

/**
 * One line of the agent's event stream (newline-delimited JSON): a sandbox
 * changed or was deleted, or a warm pool's counts changed (`warmPool`; a
 * pool DELETEd is sent once more with `deleted: true`).
 */
export const SandboxEvent = z.strictObject({
  type: z.enum(["sandbox", "deleted"]),
  sandbox: ObservedSandbox,
  time: z.iso.datetime(),
});
export type SandboxEvent = z.infer<typeof SandboxEvent>;
export const WarmPoolEvent = z.strictObject({
  type: z.literal("warmPool"),
  warmPool: ObservedWarmPool,
  deleted: z.boolean().optional(),
  time: z.iso.datetime(),
});
export type WarmPoolEvent = z.infer<typeof WarmPoolEvent>;
export const AgentEvent = z.discriminatedUnion("type", [SandboxEvent, WarmPoolEvent]);
export type AgentEvent = z.infer<typeof AgentEvent>;

/** Errors the API answers with: `field` names the offending input. */
export const ApiError = z.strictObject({
  error: z.string(),
  message: z.string(),
  fields: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
});
export type ApiError = z.infer<typeof ApiError>;

/** Field errors as one line: `field: message; field: message`. */
export function describeFieldErrors(error: z.ZodError): string {
  return describeFields(fieldErrors(error));
}

/** `field: message; field: message`, for field errors from anywhere. */
export function describeFields(fields: { path: string; message: string }[]): string {
  return fields.map((f) => `${f.path}: ${f.message}`).join("; ");
}

/** Formats zod issues as `field: message` entries. */
export function fieldErrors(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => {
    const path = issue.path
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("")
      .replace(/^\./, "");
    const message =
      issue.code === "unrecognized_keys"
        ? `unknown field(s) ${issue.keys.join(", ")}`
        : issue.message;
    return { path: path || "(body)", message };
  });
}

export * from "./access.ts";
export * from "./exec.ts";
