import { z } from "zod";
import { API_VERSION, EnvVars, ObjectMeta, Resources } from "./common.ts";
import { SandboxNetwork } from "./policy.ts";
import { SandboxIngress, SandboxLifecycle } from "./sandbox.ts";

/** Defaults a Sandbox can start from; the Sandbox's own fields win. */
export const SandboxTemplateSpec = z.strictObject({
  image: z.string().min(1).max(255),
  resources: Resources.optional(),
  env: EnvVars.optional(),
  command: z.array(z.string()).min(1).optional(),
  ingress: SandboxIngress.optional(),
  network: SandboxNetwork.optional(),
  rootfsMode: z.enum(["readonly", "memory", "cow"]).optional(),
  lifecycle: SandboxLifecycle.optional(),
});

export const SandboxTemplate = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("SandboxTemplate"),
  metadata: ObjectMeta,
  spec: SandboxTemplateSpec,
});
export type SandboxTemplate = z.infer<typeof SandboxTemplate>;
