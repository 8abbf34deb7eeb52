import { readCommandLine } from "@turgon/toolkit/command-line";
import { reportFailure } from "@turgon/toolkit/errors";
import { stopAuditWorker } from "../dashboard/audit-worker.ts";
import { stopDashboard } from "../dashboard/index.ts";
import { stopEnvironment } from "../environment/index.ts";
import { upStateDir } from "../paths.ts";
import { stopPlatform } from "../platform/index.ts";
import { stopLocalRegistry } from "../services/registry.ts";
import { DOWN } from "./commands.ts";

/** `npm run down`: stops what `npm run up` started from this checkout, and only that. */
async function main(): Promise<void> {
  if (!readCommandLine(DOWN)) return;
  const stateDir = upStateDir();
  const result = {
    // The worker first: it finishes its batches while Redis and PostgreSQL still run.
    "audit-worker": await stopAuditWorker(stateDir),
    dashboard: await stopDashboard(stateDir),
    ...(await stopPlatform(stateDir)),
    ...(await stopEnvironment(stateDir)),
    registry: await stopLocalRegistry(stateDir),
  };
  for (const [service, outcome] of Object.entries(result))
    console.log(`  ${service.padEnd(24)} ${outcome}`);
  console.log(`Data is kept in ${stateDir}; \`npm run up\` starts it again.`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
