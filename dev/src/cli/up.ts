import { dirname } from "node:path";
import { readCommandLine } from "@turgon/toolkit/command-line";
import { reportFailure } from "@turgon/toolkit/errors";
import { formatDuration } from "@turgon/toolkit/progress";
import {
  auditWorkerPortFromEnv,
  ensureAuditWorker,
  planAuditWorker,
} from "../dashboard/audit-worker.ts";
import {
  dashboardPaths,
  dashboardPortFromEnv,
  dashboardUrl,
  ensureDashboard,
  planDashboard,
} from "../dashboard/index.ts";
import {
  defaultPostgresDataDir,
  portsFromEnv,
  SERVICES,
  startEnvironment,
} from "../environment/index.ts";
import { upStateDir } from "../paths.ts";
import {
  COMPONENTS,
  componentKubeconfig,
  INGRESS_DOMAIN,
  LOCAL_NODE,
  planPlatform,
  platformPortsFromEnv,
  startPlatform,
} from "../platform/index.ts";
import { ensureLocalRegistry, planRegistry, registryPortFromEnv } from "../services/registry.ts";
import { UP } from "./commands.ts";

/** `npm run up`: starts the local platform (idempotent) and says how to use it. */
async function main(): Promise<void> {
  if (!readCommandLine(UP)) return;
  const started = Date.now();
  const stateDir = upStateDir();
  const platformPorts = platformPortsFromEnv();
  const webPort = dashboardPortFromEnv();
  await planPlatform(stateDir, platformPorts);
  await planDashboard(stateDir, webPort);
  const auditWorkerPort = auditWorkerPortFromEnv();
  await planAuditWorker(stateDir, auditWorkerPort);
  const registryPort = registryPortFromEnv();
  await planRegistry(stateDir, registryPort);
  const info = await startEnvironment({
    stateDir,
    postgresDataDir: defaultPostgresDataDir(stateDir),
    ports: portsFromEnv(),
    ephemeral: false,
  });
  const platform = await startPlatform(info, platformPorts, `${dashboardUrl(webPort)}/signin`);
  const dashboard = await ensureDashboard({
    stateDir,
    port: webPort,
    databaseUrl: info.databaseUrl,
    // The dashboard's own identity; it acts for signed-in users by impersonation.
    writeKubeconfig: (path) =>
      componentKubeconfig(info, path, "system:serviceaccount:turgon-system:turgon-web", [
        "system:serviceaccounts",
        "system:serviceaccounts:turgon-system",
      ]),
    // The router's own host (no sandbox label), where its exec WebSocket serves terminals.
    routerUrl: `http://localhost:${platformPorts.router}`,
    redisUrl: info.redisUrl,
  });
  const auditWorker = await ensureAuditWorker({
    stateDir,
    port: auditWorkerPort,
    databaseUrl: info.databaseUrl,
    redisUrl: info.redisUrl,
    // As the dashboard's own identity, which may list and watch namespaces (their teams).
    kubeconfig: dashboardPaths(stateDir).kubeconfig,
  });
  // Where `npm run images:oci` pushes, and the chart's default image.registry.
  const registry = await ensureLocalRegistry(stateDir, registryPort);
  const services = [
    ...SERVICES.map((service) => `${service} ${info.outcome[service]}`),
    ...COMPONENTS.map((component) => `${component} ${platform[component]}`),
    `dashboard ${dashboard.state}`,
    `audit-worker ${auditWorker.state}`,
    `registry ${registry.state}`,
  ].join(", ");
  const { admin } = dashboard;
  const signIn = admin.newPassword
    ? `
First admin created: ${admin.email}
  password  ${admin.newPassword}
  (shown this once; it is kept in ${admin.passwordFile}, readable only by you)
`
    : "";
  console.log(`
Turgon local platform is up (${formatDuration(Date.now() - started)}): ${services}.

  kube-apiserver  ${info.apiServerUrl}   (etcd on 127.0.0.1:${info.ports.etcdClient})
  controllers     ${info.controllerManagerUrl}/healthz   (kube-controller-manager: namespace deletion, garbage collection)
  PostgreSQL      ${info.databaseUrl}
  Redis           ${info.redisUrl}
  guest image     ${info.guestImage}   (store ${info.imageStore})
  node agent      https://127.0.0.1:${platformPorts.agentApi}   (SandboxNode "${LOCAL_NODE}", ingress :${platformPorts.agentIngress})
  operator        http://127.0.0.1:${platformPorts.operatorMetrics}/metrics
  router          http://<name>--<namespace>.${INGRESS_DOMAIN}:${platformPorts.router}/   (ingress domain ${INGRESS_DOMAIN}; metrics :${platformPorts.routerMetrics})
  dashboard       ${dashboard.url}   (log ${dashboard.logFile})
  audit worker    Redis → PostgreSQL, /healthz on 127.0.0.1:${auditWorkerPort}   (log ${auditWorker.logFile})
  registry        http://${registry.host}/v2/   (OCI images: npm run images:oci pushes the components' there)
  state and logs  ${info.stateDir}

  kubeconfig      ${info.kubeconfig}
  kubectl         ${info.kubectl}
${signIn}
Sign in at ${dashboard.url}/signin as ${admin.email}; the password is in ${admin.passwordFile}.

Try:
  export KUBECONFIG=${info.kubeconfig}
  export PATH=${dirname(info.kubectl)}:$PATH
  kubectl apply -f examples/
  kubectl get sandboxes -w
  curl -i http://hello--default.${INGRESS_DOMAIN}:${platformPorts.router}/   (private: sends you to sign in)
  ssh -p ${platformPorts.routerSsh} <name>.<namespace>@localhost   (spec.ssh.enabled; your ~/.ssh keys as an admin, and keys registered on your dashboard profile)

Stop it with: npm run down`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
