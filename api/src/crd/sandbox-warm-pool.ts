import { z } from "zod";
import { API_VERSION, Condition, LocalObjectReference, ObjectMeta } from "./common.ts";

/** The most warm VMs one pool may keep (across all nodes). */
export const MAX_WARM_REPLICAS = 100;

/**
 * N booted VMs of a SandboxTemplate's boot shape (image, resources, rootfs
 * mode), kept idle on the agents: a Sandbox from that template claims one
 * and is Ready without a boot. Its env, secrets, policy, command and routes
 * are applied at claim.
 */
export const SandboxWarmPoolSpec = z.strictObject({
  templateRef: LocalObjectReference.meta({
    description: "The SandboxTemplate (same namespace) whose boot shape the warm VMs have.",
  }),
  replicas: z
    .int()
    .min(0)
    .max(MAX_WARM_REPLICAS)
    .meta({ description: `Booted idle VMs to keep ready, 0 to ${MAX_WARM_REPLICAS}.` }),
});
export type SandboxWarmPoolSpec = z.infer<typeof SandboxWarmPoolSpec>;

export const SandboxWarmPoolStatus = z.strictObject({
  replicas: z
    .int()
    .min(0)
    .optional()
    .meta({ description: "Warm VMs that exist: booting or ready." }),
  readyReplicas: z
    .int()
    .min(0)
    .optional()
    .meta({ description: "Warm VMs booted and ready to be claimed." }),
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(Condition).optional(),
});
export type SandboxWarmPoolStatus = z.infer<typeof SandboxWarmPoolStatus>;

/** Agents key pools by a DNS label name (DesiredWarmPool.name), so a longer or dotted name is refused here. */
const NAME_RULE = {
  rule: "self.metadata.name.size() <= 63 && !self.metadata.name.contains('.')",
  message: "metadata.name must be a DNS label: at most 63 characters, no '.'",
};

export const SandboxWarmPool = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal("SandboxWarmPool"),
    metadata: ObjectMeta,
    spec: SandboxWarmPoolSpec,
    status: SandboxWarmPoolStatus.optional(),
  })
  .meta({ "x-kubernetes-validations": [NAME_RULE] })
  .refine(
    (pool) =>
      pool.metadata.name === undefined ||
      (pool.metadata.name.length <= 63 && !pool.metadata.name.includes(".")),
    { message: NAME_RULE.message, path: ["metadata", "name"] },
  );
export type SandboxWarmPool = z.infer<typeof SandboxWarmPool>;
