import { z } from "zod";
import { API_VERSION, Condition, memoryQuantity, ObjectMeta } from "./common.ts";

const Capacity = z.strictObject({
  cpus: z.int().min(0),
  memory: memoryQuantity,
  vms: z.int().min(0),
});

const port = z.int().min(1).max(65_535);

/** An inclusive range of TCP ports. */
export const FrontPorts = z
  .strictObject({ first: port, last: port })
  .meta({
    "x-kubernetes-validations": [
      { rule: "self.first <= self.last", message: "first must not be greater than last" },
    ],
  })
  .refine((range) => range.first <= range.last, {
    message: "first must not be greater than last",
    path: ["first"],
  });
export type FrontPorts = z.infer<typeof FrontPorts>;

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
    frontPorts: FrontPorts.optional().meta({
      description:
        "The ports the agent's sandbox fronts listen on, on the ingress host; the router sends a sandbox's requests to its front only inside this range.",
    }),
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
