/**
 * The edge's public facts: where users reach sandboxes. Set once, in one
 * ConfigMap (`turgon-system/turgon-edge` by default), which the operator
 * follows to write `status.ingress.url` and `status.ssh.command`, and the
 * router reads for the domain it serves; `npm run up` and the test stacks
 * write it with the router's real ports.
 */
import { z } from "zod";
import { ingressDomain, sandboxHostLabel } from "./index.ts";

/** The ConfigMap the operator and the router read unless `--edge-config` names another. */
export const EDGE_CONFIG = "turgon-system/turgon-edge";

/** `namespace/name` of a ConfigMap. */
export const configMapRef = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
    "must be namespace/name",
  );

export interface EdgeFacts {
  /** Routed URLs are `<scheme>://<name>--<namespace>.<domain>[:port]/`. */
  domain: string;
  /** What browsers speak to the edge: https when the router or a terminator in front holds a certificate. */
  scheme: "http" | "https";
  /** The external port in URLs; 0 is the scheme's default (80 or 443). */
  port: number;
  /** Host and port of the router's SSH gateway as users dial it. */
  sshHost: string;
  sshPort: number;
}

/**
 * Facts where the ConfigMap (or a key of it) is absent: the router's own
 * defaults (plain HTTP on 18080, SSH on 2222, under `localhost`), so an
 * operator without the ConfigMap never advertises what the router does not serve.
 */
export const DEFAULT_EDGE: EdgeFacts = {
  domain: "localhost",
  scheme: "http",
  port: 18080,
  sshHost: "localhost",
  sshPort: 2222,
};

const portNumber = (min: number) =>
  z.coerce
    .number({ error: "must be a number" })
    .int({ error: "must be a whole number" })
    .min(min, { error: `must be ${min} to 65535` })
    .max(65535, { error: `must be ${min} to 65535` });

/** The ConfigMap's data keys; each may be left out for its default. */
export const EdgeConfigData = z.strictObject({
  domain: ingressDomain.optional(),
  scheme: z.enum(["http", "https"], { error: "must be http or https" }).optional(),
  port: portNumber(0).optional(),
  sshHost: z.string().min(1).optional(),
  sshPort: portNumber(1).optional(),
});

/** A ConfigMap's data that is not edge facts; the message names the ConfigMap and each key. */
export class EdgeConfigError extends Error {}

/** The facts a ConfigMap's `data` states, each missing key at its default; `undefined` data (no ConfigMap) is all defaults. */
export function parseEdgeFacts(data: Record<string, string> | undefined, ref: string): EdgeFacts {
  const parsed = EdgeConfigData.safeParse(data ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown keys ${issue.keys.join(", ")} (it takes domain, scheme, port, sshHost, sshPort)`
        : `${String(issue.path[0])}: ${issue.message}`,
    );
    throw new EdgeConfigError(`ConfigMap ${ref}: ${problems.join("; ")}`);
  }
  return withDefaults(parsed.data);
}

function withDefaults(partial: Partial<EdgeFacts>): EdgeFacts {
  return { ...DEFAULT_EDGE, ...stripUndefined(partial) };
}

/** The ConfigMap `data` that states `facts` (for `npm run up` and test stacks). */
export function edgeConfigData(facts: EdgeFacts): Record<string, string> {
  return {
    domain: facts.domain,
    scheme: facts.scheme,
    port: String(facts.port),
    sshHost: facts.sshHost,
    sshPort: String(facts.sshPort),
  };
}

/** `facts` with each override that is set put in its place (a daemon's old per-fact flags). */
export function overrideEdge(facts: EdgeFacts, overrides: Partial<EdgeFacts>): EdgeFacts {
  return { ...facts, ...stripUndefined(overrides) };
}

function stripUndefined(partial: Partial<EdgeFacts>): Partial<EdgeFacts> {
  return Object.fromEntries(
    Object.entries(partial).filter(([, value]) => value !== undefined),
  ) as Partial<EdgeFacts>;
}

/** A sandbox's routed URL: `<scheme>://<host label>.<domain>[:port]/`. */
export function sandboxUrl(facts: EdgeFacts, name: string, namespace: string): string {
  const defaultPort = facts.scheme === "https" ? 443 : 80;
  const suffix = facts.port && facts.port !== defaultPort ? `:${facts.port}` : "";
  return `${facts.scheme}://${sandboxHostLabel(name, namespace)}.${facts.domain}${suffix}/`;
}

/** How a user reaches a sandbox over the router's SSH gateway. */
export function sandboxSshCommand(facts: EdgeFacts, name: string, namespace: string): string {
  const port = facts.sshPort === 22 ? "" : `-p ${facts.sshPort} `;
  return `ssh ${port}${name}.${namespace}@${facts.sshHost}`;
}
