import { z } from "zod";
import { isCidr } from "../net/index.ts";

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
  .min(1, "must be a duration such as 90s, 15m or 2h")
  .max(32)
  .regex(/^([0-9]+h)?([0-9]+m)?([0-9]+s)?$/, "must be a duration such as 90s, 15m or 2h");

export const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name");

export const EnvVar = z.strictObject({
  name: envVarName,
  value: z.string().max(32_768),
});

/**
 * A list whose entries are keyed by `key`: the API server refuses two with
 * the same key (a list-map), and so does zod, naming the duplicate.
 */
export function keyedList<T extends z.ZodObject>(
  item: T,
  key: keyof z.infer<T> & string,
  max: number,
) {
  return z
    .array(item)
    .max(max)
    .superRefine((entries, ctx) => {
      const seen = new Set<unknown>();
      for (const [index, entry] of entries.entries()) {
        const value = (entry as Record<string, unknown>)[key];
        if (seen.has(value))
          ctx.addIssue({
            code: "custom",
            path: [index, key],
            message: `Duplicate value: another entry has ${key} ${JSON.stringify(value)}`,
          });
        seen.add(value);
      }
    })
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key] });
}

/** Environment variables, unique by name. */
export const EnvVars = keyedList(EnvVar, "name", 256);

/** A CIDR such as 10.0.0.0/8; the API server checks it with CEL's isCIDR(). */
export const cidr = z
  .string()
  .max(64)
  .refine(isCidr, "must be a CIDR such as 10.0.0.0/8 or fd00::/8")
  .meta({
    "x-kubernetes-validations": [
      { rule: "isCIDR(self)", message: "must be a CIDR such as 10.0.0.0/8 or fd00::/8" },
    ],
  });

/** MiB in a whole-MiB quantity (Mi, Gi, Ti). */
function quantityMiB(value: string): number {
  const match = /^(\d+)(Mi|Gi|Ti)$/.exec(value);
  if (!match) return Number.NaN;
  return Number(match[1]) * { Mi: 1, Gi: 1024, Ti: 1024 * 1024 }[match[2] as "Mi" | "Gi" | "Ti"];
}

/**
 * A VM's memory: whole MiB (the agent sizes VMs in MiB), from 128Mi to 1Ti,
 * checked by the API server with CEL's quantity library.
 */
export const vmMemory = z
  .string()
  .max(16)
  .regex(/^[1-9][0-9]*(Mi|Gi|Ti)$/, "must be whole mebibytes or more, such as 512Mi or 2Gi")
  .refine((value) => {
    const mib = quantityMiB(value);
    return mib >= 128 && mib <= 1_048_576;
  }, "must be from 128Mi to 1Ti")
  .meta({
    description: "Memory as a Kubernetes binary quantity from 128Mi to 1Ti, such as 512Mi or 2Gi.",
    "x-kubernetes-validations": [
      {
        rule: "quantity(self).compareTo(quantity('128Mi')) >= 0 && quantity(self).compareTo(quantity('1Ti')) <= 0",
        message: "must be from 128Mi to 1Ti",
      },
    ],
  });

/** Resources of one VM. Unset fields stay unset (a template may fill them); defaults: 1 vCPU, 512Mi. */
export const Resources = z.strictObject({
  cpus: z.int().min(1).max(64).optional().meta({ description: "Virtual CPUs (default 1)." }),
  memory: vmMemory.optional(),
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
