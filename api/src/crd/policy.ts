import { z } from "zod";
import { cidr, dnsLabel, envVarName, keyedList, LocalObjectReference } from "./common.ts";

/** A host pattern as Gondolin's allowlist takes it: a name, `*.example.com`, or `*`. */
export const hostPattern = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(\*|(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$/,
    "must be a host name, *.domain or *",
  );

/**
 * Only Secrets with this label may be referenced by `secretKeyRef`: a
 * Secret that a sandbox author can have sent to a host of their choosing
 * must be one its owner meant for that.
 */
export const INJECTABLE_LABEL = "turgon.dev/injectable";

/** A secret the guest sees only as a placeholder; the agent substitutes it for the listed hosts. */
export const SecretInjection = z.strictObject({
  name: envVarName.meta({
    description: "Environment variable that holds the placeholder in the guest.",
  }),
  hosts: z.array(hostPattern).min(1).meta({ description: "Hosts the real value may be sent to." }),
  secretKeyRef: z.strictObject({ name: dnsLabel, key: z.string().min(1).max(253) }),
});

/** Egress policy: shared by SandboxPolicy.spec and Sandbox.spec.network. */
export const EgressPolicyFields = {
  allowedHosts: z.array(hostPattern).optional().meta({
    description:
      "Hosts the guest may reach over HTTP(S). Empty or absent means none: Turgon is default-deny.",
  }),
  blockInternalRanges: z.boolean().optional().meta({
    description:
      "Refuse private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7); default true. Loopback, link-local, metadata and the node's own addresses are refused regardless.",
  }),
  deniedMethods: z
    .array(z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]))
    .optional(),
  deniedCIDRs: z.array(cidr).max(256).optional(),
  dns: z
    .strictObject({
      mode: z.enum(["synthetic", "trusted"]).default("synthetic").meta({
        description:
          "synthetic: the guest's lookups get placeholder answers and only the host resolves names (default); trusted: lookups go to the node's resolvers. There is no open mode: it would let the guest send DNS to any address, around the egress floor.",
      }),
    })
    .optional(),
  websockets: z
    .boolean()
    .optional()
    .meta({ description: "Allow WebSocket upgrades to allowed hosts." }),
  secrets: keyedList(SecretInjection, "name", 64).optional(),
  mode: z.enum(["enforce", "report"]).optional().meta({
    description:
      "enforce refuses what the policy denies; report lets hosts off the allowlist through and audits them as would-deny (every other rule still refuses).",
  }),
};

/** SandboxPolicy.spec: the egress rules, and whether sandboxes that reference it may relax them. */
export const SandboxPolicySpec = z.strictObject({
  ...EgressPolicyFields,
  allowSandboxOverrides: z.boolean().optional().meta({
    description:
      "Let sandboxes that reference this policy relax it with inline rules (more hosts, report mode, blockInternalRanges false, fewer denied methods or CIDRs, WebSockets, trusted DNS). Default false: such a sandbox is refused, naming the field.",
  }),
});

/** Sandbox.spec.network: a policy reference and/or inline rules; inline rules win. */
export const SandboxNetwork = z.strictObject({
  policyRef: LocalObjectReference.optional(),
  ...EgressPolicyFields,
});
