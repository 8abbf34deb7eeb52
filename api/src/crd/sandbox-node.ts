import { z } from "zod";
import { API_VERSION, Condition, memoryQuantity, ObjectMeta } from "./common.ts";

const Capacity = z.strictObject({
  cpus: z.int().min(0),
  memory: memoryQuantity,
  vms: z.int().min(0),
});

/** A node agent's registration: where to reach it and what it can hold. */
export const SandboxNode = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("SandboxNode"),
  metadata: ObjectMeta,
  spec: z.strictObject({
    address: z.url().meta({ description: "Base URL of the agent API." }),
    ingressAddress: z
      .url()
      .optional()
      .meta({ description: "Base URL of the agent's ingress data plane." }),
    unschedulable: z.boolean().default(false),
  }),
  status: z
    .strictObject({
      capacity: Capacity.optional().meta({
        description: "What the node offers: physical vCPUs, memory and VM slots.",
      }),
      allocatable: Capacity.optional().meta({
        description:
          "What can be placed on the node in all: capacity with vCPUs overcommitted by the agent's --cpu-allocation-ratio (memory is not). Placed sandboxes are not subtracted.",
      }),
      conditions: z.array(Condition).optional(),
      lastHeartbeatTime: z.iso.datetime().optional(),
      accelerator: z.enum(["kvm", "tcg"]).optional(),
      agentVersion: z.string().optional(),
    })
    .optional(),
});
export type SandboxNode = z.infer<typeof SandboxNode>;
