import type { z } from "zod";
import { GROUP, VERSION } from "./common.ts";
import { Sandbox } from "./sandbox.ts";
import { SandboxNode } from "./sandbox-node.ts";
import { SandboxPolicy } from "./sandbox-policy.ts";
import { SandboxTemplate } from "./sandbox-template.ts";
import { SandboxWarmPool } from "./sandbox-warm-pool.ts";

export * from "./common.ts";
export * from "./conditions.ts";
export * from "./policy.ts";
export * from "./sandbox.ts";
export * from "./sandbox-node.ts";
export * from "./sandbox-policy.ts";
export * from "./sandbox-template.ts";
export * from "./sandbox-warm-pool.ts";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** Everything needed to register one custom resource with the API server. */
export interface CustomResource {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: "Namespaced" | "Cluster";
  schema: z.ZodType;
  printerColumns: PrinterColumn[];
}

const age: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export const CUSTOM_RESOURCES: CustomResource[] = [
  {
    kind: "Sandbox",
    plural: "sandboxes",
    singular: "sandbox",
    shortNames: ["sbx"],
    scope: "Namespaced",
    schema: Sandbox,
    printerColumns: [
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Node", type: "string", jsonPath: ".status.nodeName" },
      { name: "URL", type: "string", jsonPath: ".status.ingress.url" },
      age,
    ],
  },
  {
    kind: "SandboxPolicy",
    plural: "sandboxpolicies",
    singular: "sandboxpolicy",
    shortNames: ["sbxpol"],
    scope: "Namespaced",
    schema: SandboxPolicy,
    printerColumns: [{ name: "Mode", type: "string", jsonPath: ".spec.mode" }, age],
  },
  {
    kind: "SandboxTemplate",
    plural: "sandboxtemplates",
    singular: "sandboxtemplate",
    shortNames: ["sbxtpl"],
    scope: "Namespaced",
    schema: SandboxTemplate,
    printerColumns: [{ name: "Image", type: "string", jsonPath: ".spec.image" }, age],
  },
  {
    kind: "SandboxWarmPool",
    plural: "sandboxwarmpools",
    singular: "sandboxwarmpool",
    shortNames: ["sbxpool"],
    scope: "Namespaced",
    schema: SandboxWarmPool,
    printerColumns: [
      { name: "Template", type: "string", jsonPath: ".spec.templateRef.name" },
      {
        name: "Desired",
        type: "integer",
        jsonPath: ".spec.replicas",
        description: "Warm VMs the pool keeps.",
      },
      {
        name: "Ready",
        type: "integer",
        jsonPath: ".status.readyReplicas",
        description: "Warm VMs booted and ready to be claimed.",
      },
      age,
    ],
  },
  {
    kind: "SandboxNode",
    plural: "sandboxnodes",
    singular: "sandboxnode",
    shortNames: ["sbxnode"],
    scope: "Cluster",
    schema: SandboxNode,
    printerColumns: [
      { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      { name: "Address", type: "string", jsonPath: ".spec.address" },
      {
        name: "CPU-Capacity",
        type: "integer",
        jsonPath: ".status.capacity.cpus",
        description: "vCPUs the node offers.",
      },
      {
        name: "CPU-Allocatable",
        type: "integer",
        jsonPath: ".status.allocatable.cpus",
        description: "vCPUs that can be placed: capacity times the agent's --cpu-allocation-ratio.",
      },
      {
        name: "Memory",
        type: "string",
        jsonPath: ".status.allocatable.memory",
        description: "Memory that can be placed (not overcommitted: equal to capacity).",
      },
      { name: "Accelerator", type: "string", jsonPath: ".status.accelerator" },
      { name: "Heartbeat", type: "date", jsonPath: ".status.lastHeartbeatTime" },
      age,
    ],
  },
];

export function crdName(resource: CustomResource): string {
  return `${resource.plural}.${GROUP}`;
}

export { GROUP, VERSION };
