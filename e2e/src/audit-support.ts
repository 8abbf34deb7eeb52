/**
 * Helpers of the audit page tests. Events reach the dashboard through an
 * AuditSource: here `committedRows` writes rows into the dashboard's
 * database and PUBLISHes AuditCommitted as the worker does after a commit;
 * a whole-stack test swaps in a source that makes a guest send requests
 * (through the real agent and worker) and keeps the assertions.
 */
import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import { announceCommitted, type EgressSeed, insertEgressEvents } from "@turgon/web/audit/testing";
import type pg from "pg";

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
