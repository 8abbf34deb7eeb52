import { z } from "zod";
import { API_VERSION, ObjectMeta } from "./common.ts";
import { EgressPolicy } from "./policy.ts";

/** A reusable egress policy; editing it updates every running sandbox that references it. */
export const SandboxPolicy = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("SandboxPolicy"),
  metadata: ObjectMeta,
  spec: EgressPolicy,
});
export type SandboxPolicy = z.infer<typeof SandboxPolicy>;
