import { z } from "zod";
import { API_VERSION, ObjectMeta } from "./common.ts";
import { SandboxPolicySpec } from "./policy.ts";

/** A reusable egress policy; editing it updates every running sandbox that references it. */
export const SandboxPolicy = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("SandboxPolicy"),
  metadata: ObjectMeta,
  spec: SandboxPolicySpec,
});
export type SandboxPolicy = z.infer<typeof SandboxPolicy>;
