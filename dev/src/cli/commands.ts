/** What `npm run up`, `down` and `status` take: their --help, and the check of their arguments. */
import type { CommandSpec } from "@turgon/toolkit/command-line";
import { PORT_VARIABLE as AUDIT_WORKER_PORT } from "../dashboard/audit-worker.ts";
import { PORT_VARIABLE as WEB_PORT } from "../dashboard/index.ts";
import {
  DEFAULT_PORTS as SERVICE_DEFAULTS,
  PORT_ENV as SERVICE_PORTS,
} from "../environment/index.ts";
import {
  DEFAULT_PORTS as PLATFORM_DEFAULTS,
  PORT_ENV as PLATFORM_PORTS,
} from "../platform/index.ts";
import {
  DEFAULT_REGISTRY_PORT,
  REGISTRY_PORT_VARIABLE as REGISTRY_PORT,
} from "../services/registry.ts";

const STATE = {
  TURGON_STATE_DIR:
    "where the platform keeps its state, data and logs (default: <checkout>/.turgon)",
};

/** What each port serves, as a person reads it. */
const PORT_MEANING: Record<keyof typeof SERVICE_PORTS | keyof typeof PLATFORM_PORTS, string> = {
  apiServer: "the kube-apiserver",
  controllerManager: "kube-controller-manager's health",
  etcdClient: "etcd's clients",
  etcdPeer: "etcd's peers",
  postgres: "PostgreSQL",
  redis: "Redis",
  agentApi: "the node agent's API",
  agentIngress: "the node agent's ingress",
  operatorMetrics: "the operator's metrics",
  router: "the router (sandbox URLs)",
  routerMetrics: "the router's metrics",
  routerSsh: "the router's SSH edge",
};

function portVariables(): Record<string, string> {
  const ports: Record<string, string> = {};
  const defaults: Record<string, number> = { ...SERVICE_DEFAULTS, ...PLATFORM_DEFAULTS };
  for (const [key, variable] of Object.entries({ ...SERVICE_PORTS, ...PLATFORM_PORTS }))
    ports[variable] =
      `loopback port of ${PORT_MEANING[key as keyof typeof PORT_MEANING]} (default ${defaults[key]})`;
  ports[WEB_PORT] = "loopback port of the dashboard (default 3000)";
  ports[AUDIT_WORKER_PORT] = "loopback port of the audit worker's /healthz (default 18083)";
  ports[REGISTRY_PORT] = `loopback port of the OCI registry (default ${DEFAULT_REGISTRY_PORT})`;
  return ports;
}

export const UP: CommandSpec = {
  command: "npm run up --",
  summary:
    "Starts the local platform (kube-apiserver, etcd, PostgreSQL, Redis, node agent, operator, router, dashboard, audit worker, OCI registry) and prints how to use it. Idempotent: what already runs is kept.",
  environment: { ...STATE, ...portVariables() },
};

export const DOWN: CommandSpec = {
  command: "npm run down --",
  summary: "Stops what `npm run up` started from this checkout, and only that. Data is kept.",
  environment: STATE,
};

export const STATUS: CommandSpec = {
  command: "npm run status --",
  summary: "Says which of the local platform's services run, with their pids and logs.",
  environment: STATE,
};
