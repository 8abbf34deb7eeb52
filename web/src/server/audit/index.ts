/**
 * The audit view's server side: queries (query.ts), exports (export.ts),
 * live-tail wake-ups (live.ts), and this process's connection pool for them.
 */
import "server-only";
import pg from "pg";
import type { TurgonSession } from "../auth/index.ts";
import { serverConfig } from "../config.ts";
import type { AuditAccess } from "./query.ts";

export { auditLive } from "./live.ts";
export * from "./query.ts";

// One pool per server process (module reloads in `next dev` would otherwise open more).
const globalForPool = globalThis as unknown as { turgonAuditPool?: pg.Pool };

/**
 * The audit queries' own pool: plain pg, since the list, tail and export
 * are hand-written SQL on a partitioned table. A statement that runs away
 * is stopped; an export reads in many short statements, never one long one.
 */
export function auditPool(): pg.Pool {
  globalForPool.turgonAuditPool ??= new pg.Pool({
    connectionString: serverConfig().DATABASE_URL,
    max: 8,
    statement_timeout: 30_000,
    application_name: "turgon-web-audit",
  });
  return globalForPool.turgonAuditPool;
}

/** What this user may see: every row for platform admins, else their teams' rows. */
export function accessOf(session: TurgonSession): AuditAccess {
  return session.isAdmin ? { all: true } : { all: false, teams: session.teams };
}
