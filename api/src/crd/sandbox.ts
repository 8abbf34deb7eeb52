import { z } from "zod";
import {
  API_VERSION,
  Condition,
  duration,
  EnvVars,
  keyedList,
  LocalObjectReference,
  ObjectMeta,
  Resources,
} from "./common.ts";
import { SandboxNetwork } from "./policy.ts";

/**
 * How the agent tells that a route serves, modelled on a pod's
 * readinessProbe: an HTTP GET of `httpGet.path` (as the guest app sees it)
 * answering 2xx or 3xx, or by default a connection the guest accepts.
 */
export const ReadinessProbe = z
  .strictObject({
    httpGet: z
      .strictObject({
        path: z
          .string()
          .max(1024)
          .regex(/^\/[^\s#]*$/, "must start with '/' and contain no spaces or '#'"),
      })
      .optional(),
    tcpSocket: z.strictObject({}).optional(),
    periodSeconds: z.int().min(1).max(300).optional().meta({
      description: "How often to probe once the route serves (default 10; every 2 s until then).",
    }),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(60)
      .optional()
      .meta({ description: "How long one probe may take (default 2)." }),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!(has(self.httpGet) && has(self.tcpSocket))",
        message: "httpGet and tcpSocket are alternatives",
      },
    ],
  })
  .refine((probe) => !(probe.httpGet && probe.tcpSocket), {
    message: "httpGet and tcpSocket are alternatives",
  });
export type ReadinessProbe = z.infer<typeof ReadinessProbe>;

/** A route as the guest's routing table holds it (and status shows it). */
export const ObservedRoute = z.strictObject({
  prefix: z
    .string()
    .max(1024)
    .regex(/^\/[^\s?#]*$/, "must start with '/' and contain no spaces, '?' or '#'")
    .meta({ description: "Path prefix; the longest matching prefix wins." }),
  port: z.int().min(1).max(65535).meta({ description: "Guest port on loopback." }),
  stripPrefix: z
    .boolean()
    .default(true)
    .meta({ description: "Remove the prefix before forwarding (Gondolin's default)." }),
});
export type ObservedRoute = z.infer<typeof ObservedRoute>;

/** A route as a Sandbox states it: the guest's table entry, and how to tell it serves. */
export const IngressRoute = ObservedRoute.extend({
  readinessProbe: ReadinessProbe.optional().meta({
    description:
      "How the agent checks the route serves before the sandbox is Ready (default: the port accepts connections).",
  }),
});
export type IngressRoute = z.infer<typeof IngressRoute>;

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "must be an HTTP header name");

/**
 * Ingress as a Sandbox or SandboxTemplate states it. No API-server defaults
 * inside: an unset field must stay unset so a template's value can fill it;
 * the operator applies the defaults (enabled false, access private,
 * websockets true) after merging.
 */
export const SandboxIngress = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .meta({ description: "Serve the guest at a routed URL (default false)." }),
  access: z.enum(["private", "authenticated", "public"]).optional().meta({
    description:
      "private (default): the sandbox's team and admins; authenticated: any signed-in user; public: anyone.",
  }),
  websockets: z
    .boolean()
    .optional()
    .meta({ description: "Allow WebSocket upgrades (default true)." }),
  routes: keyedList(IngressRoute, "prefix", 64).optional(),
  hooks: z
    .strictObject({
      deniedPathPrefixes: z.array(z.string().regex(/^\//, "must start with '/'")).optional(),
      setHeaders: z.record(headerName, z.string().max(8192)).optional(),
      removeHeaders: z.array(headerName).optional(),
    })
    .optional(),
});

export const SandboxLifecycle = z.strictObject({
  shutdownTime: z.iso
    .datetime()
    .optional()
    .meta({ description: "When the sandbox ends (RFC 3339)." }),
  ttl: duration
    .optional()
    .meta({ description: "How long after start the sandbox ends, such as 2h." }),
  idleTimeout: duration.optional().meta({
    description:
      "End the sandbox after this long without ingress or exec traffic (suspend it instead with wakeOnRequest).",
  }),
  wakeOnRequest: z.boolean().optional().meta({
    description:
      "Resume the sandbox when a request reaches its routed URL while it is suspended (default false): the router sets operatingMode back to Running, holds the request until the sandbox serves, then forwards it. With it, idleTimeout suspends the sandbox (operatingMode: Suspended) instead of deleting it.",
  }),
});

export const SandboxSpec = z
  .strictObject({
    image: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .meta({ description: "Guest image as name:tag in the node's image store." }),
    templateRef: LocalObjectReference.optional().meta({
      description: "A SandboxTemplate whose values this sandbox's own fields override.",
    }),
    resources: Resources.optional(),
    env: EnvVars.optional(),
    command: z
      .array(z.string())
      .min(1)
      .optional()
      .meta({ description: "Service started detached after boot (argv)." }),
    ingress: SandboxIngress.optional(),
    network: SandboxNetwork.optional(),
    ssh: z.strictObject({ enabled: z.boolean().default(false) }).optional(),
    rootfsMode: z.enum(["readonly", "memory", "cow"]).optional(),
    lifecycle: SandboxLifecycle.optional(),
    operatingMode: z.enum(["Running", "Suspended"]).default("Running"),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    restartPolicy: z
      .enum(["Never", "OnNodeFailure"])
      .default("Never")
      .meta({ description: "OnNodeFailure reschedules the sandbox when its node is lost." }),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "has(self.image) || has(self.templateRef)",
        message: "spec.image or spec.templateRef is required",
      },
    ],
  })
  .refine((spec) => spec.image !== undefined || spec.templateRef !== undefined, {
    message: "spec.image or spec.templateRef is required",
    path: ["image"],
  });
export type SandboxSpec = z.infer<typeof SandboxSpec>;

export const SandboxPhase = z.enum([
  "Pending",
  "Starting",
  "Running",
  "Suspended",
  "Failed",
  "Terminating",
]);

export const SandboxStatus = z.strictObject({
  phase: SandboxPhase.optional(),
  nodeName: z.string().optional(),
  conditions: z.array(Condition).optional(),
  ingress: z
    .strictObject({
      url: z.string().optional(),
      routes: z.array(ObservedRoute).optional(),
      access: z.enum(["private", "authenticated", "public"]).optional().meta({
        description: "The access in force, template defaults applied; the router enforces it.",
      }),
      wakeOnRequest: z.boolean().optional().meta({
        description:
          "The lifecycle.wakeOnRequest in force, template applied; the router reads it while the sandbox is suspended.",
      }),
      frontPort: z.int().min(1).max(65_535).optional().meta({
        description:
          "The port of the sandbox's own ingress front on its node's ingress host; the router uses it only inside the node's spec.frontPorts.",
      }),
    })
    .optional(),
  ssh: z.strictObject({ command: z.string().optional() }).optional(),
  startedAt: z.iso.datetime().optional(),
  observedGeneration: z.int().min(0).optional(),
  message: z.string().optional(),
});
export type SandboxStatus = z.infer<typeof SandboxStatus>;

/**
 * `--` joins name and namespace in a routed host name (`<name>--<namespace>`),
 * so a name that contains it could claim another sandbox's host.
 */
const NAME_RULE = {
  rule: "!self.metadata.name.contains('--')",
  message:
    "metadata.name must not contain '--', which joins name and namespace in routed host names",
};

export const Sandbox = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal("Sandbox"),
    metadata: ObjectMeta,
    spec: SandboxSpec,
    status: SandboxStatus.optional(),
  })
  .meta({ "x-kubernetes-validations": [NAME_RULE] })
  .refine((sandbox) => !sandbox.metadata.name?.includes("--"), {
    message: NAME_RULE.message,
    path: ["metadata", "name"],
  });
export type Sandbox = z.infer<typeof Sandbox>;
