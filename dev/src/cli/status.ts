import { readCommandLine } from "@turgon/toolkit/command-line";
import { reportFailure } from "@turgon/toolkit/errors";
import { auditWorkerStatus } from "../dashboard/audit-worker.ts";
import { dashboardStatus } from "../dashboard/index.ts";
import { readEnvironmentInfo, serviceStatus } from "../environment/index.ts";
import { upStateDir } from "../paths.ts";
import { platformStatus } from "../platform/index.ts";
import { registryStatus } from "../services/registry.ts";
import { STATUS } from "./commands.ts";

/** `npm run status`: which of the local platform's services run, and where. */
async function main(): Promise<void> {
  if (!readCommandLine(STATUS)) return;
  const stateDir = upStateDir();
  const status = {
    ...(await serviceStatus(stateDir)),
    ...(await platformStatus(stateDir)),
    dashboard: await dashboardStatus(stateDir),
    "audit-worker": await auditWorkerStatus(stateDir),
    ...(await registryStatus(stateDir)),
  };
  for (const [service, record] of Object.entries(status)) {
    console.log(
      `  ${service.padEnd(24)} ${record ? `running (pid ${record.pid}, log ${record.logFile})` : "stopped"}`,
    );
  }
  const info = await readEnvironmentInfo(stateDir);
  if (info) console.log(`\n  export KUBECONFIG=${info.kubeconfig}`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
