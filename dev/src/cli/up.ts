import { dirname } from "node:path";
import { reportFailure } from "@turgon/toolkit/errors";
import { formatDuration } from "@turgon/toolkit/progress";
import {
  defaultPostgresDataDir,
  portsFromEnv,
  SERVICES,
  startEnvironment,
} from "../environment/index.ts";
import { upStateDir } from "../paths.ts";
import {
  COMPONENTS,
  INGRESS_DOMAIN,
  LOCAL_NODE,
  planPlatform,
  platformPortsFromEnv,
  startPlatform,
} from "../platform/index.ts";

/** `npm run up`: starts the local platform (idempotent) and says how to use it. */
async function main(): Promise<void> {
  const started = Date.now();
  const stateDir = upStateDir();
  const platformPorts = platformPortsFromEnv();
  await planPlatform(stateDir, platformPorts);
  const info = await startEnvironment({
    stateDir,
    postgresDataDir: defaultPostgresDataDir(stateDir),
    ports: portsFromEnv(),
    ephemeral: false,
  });
  const platform = await startPlatform(info, platformPorts);
  const services = [
    ...SERVICES.map((service) => `${service} ${info.outcome[service]}`),
    ...COMPONENTS.map((component) => `${component} ${platform[component]}`),
  ].join(", ");
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
  state and logs  ${info.stateDir}

  kubeconfig      ${info.kubeconfig}
  kubectl         ${info.kubectl}

Try:
  export KUBECONFIG=${info.kubeconfig}
  export PATH=${dirname(info.kubectl)}:$PATH
  kubectl apply -f examples/
  kubectl get sandboxes -w
  curl -i http://hello--default.${INGRESS_DOMAIN}:${platformPorts.router}/   (private: sends you to sign in)
  ssh -p ${platformPorts.routerSsh} <name>.<namespace>@localhost   (spec.ssh.enabled; keys in ${info.stateDir}/router/ssh-users.json)

Stop it with: npm run down`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
