/**
 * Helpers of the audit page tests. Events reach the dashboard through an
 * AuditSource: here `committedRows` writes rows into the dashboard's
 * database and PUBLISHes AuditCommitted as the worker does after a commit;
 * a whole-stack test swaps in a source that makes a guest send requests
 * (through the real agent and worker) and keeps the assertions.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type AuditWorkerProcess, startAuditWorkerProcess } from "@turgon/dev/testing/audit-worker";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import {
  announceCommitted,
  type EgressSeed,
  endPool,
  insertEgressEvents,
} from "@turgon/web/audit/testing";
import pg from "pg";

export interface AuditSource {
  /** Makes these events exist and be announced; resolves once they are committed. */
  emit(events: EgressSeed[]): Promise<void>;
}

/** Rows written as the audit worker commits them, then announced on the dashboard's Redis. */
export function committedRows(dashboard: TestDashboard, pool: pg.Pool): AuditSource {
  return {
    async emit(events) {
      const lastSeq = await insertEgressEvents(pool, events);
      if (dashboard.redisUrl) await announceCommitted(dashboard.redisUrl, lastSeq);
    },
  };
}

/** The export route's answer for a query string, as a browser's download would get it. */
export async function fetchExport(
  dashboard: TestDashboard,
  cookie: string | undefined,
  query: string,
): Promise<{ status: number; contentType: string; disposition: string; body: string }> {
  const response = await fetch(`${dashboard.url}/api/audit/export?${query}`, {
    headers: cookie ? { cookie } : {},
  });
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    disposition: response.headers.get("content-disposition") ?? "",
    body: await response.text(),
  };
}

/** The dashboard and the audit worker process as production pairs them, on a stack's Redis. */
export interface AuditedDashboard {
  dashboard: TestDashboard;
  worker: AuditWorkerProcess;
  /** On the dashboard's database, for reading what the worker stored. */
  pool: pg.Pool;
  /** Every component's log so far, by name: the stack's agent, operator and router, the worker, the dashboard. */
  logs(stack: StackLogs): Promise<[string, string][]>;
  stop(): Promise<void>;
}

/** What a stack (startStack) keeps of its daemons' output. */
interface StackLogs {
  agent: { lines: string[] };
  operator: { lines: string[] };
  router: { lines: string[] };
}

/** Starts both, their logs (dashboard.log, worker.log) in `artifacts`. */
export async function startAuditedDashboard(
  redisUrl: string,
  artifacts: string,
): Promise<AuditedDashboard> {
  const dashboard = await startTestDashboard({
    logFile: join(artifacts, "dashboard.log"),
    redisUrl,
  });
  let worker: AuditWorkerProcess;
  try {
    worker = await startAuditWorkerProcess({
      databaseUrl: dashboard.databaseUrl,
      redisUrl,
      kubeconfig: dashboard.kubeconfig,
      logFile: join(artifacts, "worker.log"),
    });
  } catch (error) {
    await dashboard.stop();
    throw error;
  }
  const pool = new pg.Pool({ connectionString: dashboard.databaseUrl, max: 2 });
  return {
    dashboard,
    worker,
    pool,
    async logs(stack) {
      return [
        ["agent", stack.agent.lines.join("\n")],
        ["operator", stack.operator.lines.join("\n")],
        ["router", stack.router.lines.join("\n")],
        ["worker", await worker.log()],
        ["dashboard", await readFile(dashboard.logFile, "utf8")],
      ];
    },
    async stop() {
      await endPool(pool);
      await worker.stop();
      await dashboard.stop();
    },
  };
}
