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

/** `npm run up`: starts the local platform (idempotent) and says how to use it. */
async function main(): Promise<void> {
  const started = Date.now();
  const stateDir = upStateDir();
  const info = await startEnvironment({
    stateDir,
    postgresDataDir: defaultPostgresDataDir(stateDir),
    ports: portsFromEnv(),
    ephemeral: false,
  });
  const services = SERVICES.map((service) => `${service} ${info.outcome[service]}`).join(", ");
  console.log(`
Turgon local platform is up (${formatDuration(Date.now() - started)}): ${services}.

  kube-apiserver  ${info.apiServerUrl}   (etcd on 127.0.0.1:${info.ports.etcdClient})
  PostgreSQL      ${info.databaseUrl}
  Redis           ${info.redisUrl}
  guest image     ${info.guestImage}   (store ${info.imageStore})
  state and logs  ${info.stateDir}

  kubeconfig      ${info.kubeconfig}
  kubectl         ${info.kubectl}

Try:
  export KUBECONFIG=${info.kubeconfig}
  export PATH=${dirname(info.kubectl)}:$PATH
  kubectl get namespaces

Stop it with: npm run down`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
