import { z } from "zod";

export const GROUP = "turgon.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A DNS-1123 label, as Kubernetes requires for names. */
export const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    "must be a DNS-1123 label (lower-case letters, digits and '-')",
  );

/** A reference to another object in the same namespace. */
export const LocalObjectReference = z.strictObject({
  name: dnsLabel.meta({ description: "Name of the referenced object in the same namespace." }),
});

/** Memory as a Kubernetes binary quantity: 512Mi, 2Gi. */
export const memoryQuantity = z
  .string()
  .regex(/^[1-9][0-9]*(Ki|Mi|Gi|Ti)$/, "must be a positive quantity such as 512Mi or 2Gi")
  .meta({ description: "Memory as a Kubernetes binary quantity, such as 512Mi or 2Gi." });

/** Durations as Go writes them: 90s, 15m, 2h, 1h30m. */
export const duration = z
  .string()
  .regex(/^([0-9]+h)?([0-9]+m)?([0-9]+s)?$/, "must be a duration such as 90s, 15m or 2h")
  .refine((value) => value.length > 0, "must be a duration such as 90s, 15m or 2h");

export const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name");

export const EnvVar = z.strictObject({
  name: envVarName,
  value: z.string().max(32_768),
});

/** Resources of one VM. Unset fields stay unset (a template may fill them); defaults: 1 vCPU, 512Mi. */
export const Resources = z.strictObject({
  cpus: z.int().min(1).max(64).optional().meta({ description: "Virtual CPUs (default 1)." }),
  memory: memoryQuantity.optional(),
});

/** metav1.Condition. */
export const Condition = z.strictObject({
  type: z.string().min(1).max(316),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime(),
  reason: z
    .string()
    .max(1024)
    .regex(/^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$/),
  message: z.string().max(32_768),
});
export type Condition = z.infer<typeof Condition>;

/** The part of metadata our code reads; the API server owns the rest. */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  creationTimestamp: z.string().optional(),
});
