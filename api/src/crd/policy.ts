import { z } from "zod";
import { dnsLabel, envVarName, LocalObjectReference } from "./common.ts";

/** A host pattern as Gondolin's allowlist takes it: a name, `*.example.com`, or `*`. */
export const hostPattern = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(\*|(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$/,
    "must be a host name, *.domain or *",
  );

const cidr = z
  .string()
  .regex(
    /^(([0-9]{1,3}\.){3}[0-9]{1,3}\/[0-9]{1,2}|[0-9a-fA-F:]+\/[0-9]{1,3})$/,
    "must be a CIDR such as 10.0.0.0/8",
  );

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
  blockInternalRanges: z
    .boolean()
    .optional()
    .meta({ description: "Refuse private, loopback and link-local addresses (default true)." }),
  deniedMethods: z
    .array(z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]))
    .optional(),
  deniedCIDRs: z.array(cidr).optional(),
  dns: z
    .strictObject({ mode: z.enum(["synthetic", "trusted", "open"]).default("synthetic") })
    .optional(),
  websockets: z
    .boolean()
    .optional()
    .meta({ description: "Allow WebSocket upgrades to allowed hosts." }),
  secrets: z.array(SecretInjection).optional(),
  mode: z.enum(["enforce", "report"]).optional().meta({
    description:
      "enforce refuses what the policy denies; report lets it through and audits it as would-be-denied.",
  }),
};

export const EgressPolicy = z.strictObject(EgressPolicyFields);

/** Sandbox.spec.network: a policy reference and/or inline rules; inline rules win. */
export const SandboxNetwork = z.strictObject({
  policyRef: LocalObjectReference.optional(),
  ...EgressPolicyFields,
});
