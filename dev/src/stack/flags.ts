/**
 * Each component's command-line flags, built in one place for `npm run up`,
 * the tests' stacks and the agent tests: a flag renamed in a component's
 * config is renamed here once.
 */
import { join } from "node:path";
import type { AgentCaller } from "@turgon/api/agent";
import type { AgentPkiFiles } from "../controlplane/agent-pki.ts";

export type Flags = Record<string, string>;

/**
 * How the control plane and the agent trust each other: TLS with client
 * certificates from the agent plane's PKI (as deployed), or an `--insecure`
 * agent on plain HTTP with a shared bearer token (tests of the agent alone).
 */
export type AgentPlaneAccess = { pki: AgentPkiFiles } | { tokenFile: string };

/** `--name value` pairs, in order; a later value of a name overrides an earlier one. */
export function toArgs(flags: Flags): string[] {
  return Object.entries(flags).flatMap(([name, value]) => [`--${name}`, value]);
}

export interface AgentSettings {
  node: string;
  /** 0 picks a free port (the agent logs the one it took). */
  apiPort: number;
  ingressPort: number;
  access: AgentPlaneAccess;
  kubeconfig: string;
  /** Its files: `state/` (VM records, overlays) and `spool/` (audit events not yet delivered). */
  dir: string;
  redisUrl: string;
  imageStore?: string;
  /** Last, so they override. */
  extra?: Flags;
}

export function agentFlags(settings: AgentSettings): Flags {
  const { access } = settings;
  const security: Flags =
    "pki" in access
      ? {
          "tls-cert-file": access.pki.agent.cert,
          "tls-key-file": access.pki.agent.key,
          "client-ca-file": access.pki.ca,
        }
      : { insecure: "true", "token-file": access.tokenFile };
  return {
    "node-name": settings.node,
    "api-port": String(settings.apiPort),
    "ingress-port": String(settings.ingressPort),
    ...security,
    kubeconfig: settings.kubeconfig,
    "state-dir": join(settings.dir, "state"),
    "spool-dir": join(settings.dir, "spool"),
    "redis-url": settings.redisUrl,
    ...(settings.imageStore ? { "image-store": settings.imageStore } : {}),
    ...settings.extra,
  };
}

/** How a caller of the agent (the operator, the router) proves who it is. */
export function agentClientFlags(access: AgentPlaneAccess, caller: AgentCaller): Flags {
  if ("tokenFile" in access) return { "agent-token-file": access.tokenFile };
  return {
    "agent-ca-file": access.pki.ca,
    "agent-client-cert-file": access.pki[caller].cert,
    "agent-client-key-file": access.pki[caller].key,
  };
}

/** Objects a component acts on: all (unset), or those with this label (a test run's own). */
function selectorFlags(selector: string | undefined): Flags {
  return selector ? { "sandbox-selector": selector, "node-selector": selector } : {};
}

export interface OperatorSettings {
  kubeconfig: string;
  access: AgentPlaneAccess;
  metricsPort: number;
  /** namespace/name of the edge ConfigMap it follows. */
  edgeConfig?: string;
  selector?: string;
  extra?: Flags;
}

export function operatorFlags(settings: OperatorSettings): Flags {
  return {
    kubeconfig: settings.kubeconfig,
    ...agentClientFlags(settings.access, "operator"),
    "metrics-port": String(settings.metricsPort),
    ...(settings.edgeConfig ? { "edge-config": settings.edgeConfig } : {}),
    ...selectorFlags(settings.selector),
    ...settings.extra,
  };
}

export interface RouterSettings {
  kubeconfig: string;
  access: AgentPlaneAccess;
  port: number;
  metricsPort: number;
  edgeConfig: string;
  /** The dashboard's sign-in page, where visitors of private sandboxes are sent. */
  signInUrl: string;
  redisUrl: string;
  ssh: { port: number; hostKeyFile: string; usersSecret: string };
  selector?: string;
  extra?: Flags;
}

export function routerFlags(settings: RouterSettings): Flags {
  return {
    kubeconfig: settings.kubeconfig,
    port: String(settings.port),
    "metrics-port": String(settings.metricsPort),
    "edge-config": settings.edgeConfig,
    "sign-in-url": settings.signInUrl,
    ...agentClientFlags(settings.access, "router"),
    "redis-url": settings.redisUrl,
    "ssh-port": String(settings.ssh.port),
    "ssh-host-key-file": settings.ssh.hostKeyFile,
    "ssh-users-secret": settings.ssh.usersSecret,
    ...selectorFlags(settings.selector),
    ...settings.extra,
  };
}
