/**
 * Exports of the filtered egress set or sessions as CSV or NDJSON: read in
 * keyset batches through the list's own query (so an export holds exactly
 * the rows the page pages through), one batch in memory at a time, and
 * each recorded in audit_export (who, what filter, format, when, rows).
 */
import { randomUUID } from "node:crypto";
import {
  type AuditFilter,
  EGRESS_COLUMNS,
  type ExportFormat,
  SESSION_COLUMNS,
  type SessionFilter,
} from "../../lib/audit.ts";
import { type AuditAccess, egressHead, listEgress, listSessions, type Queryable } from "./query.ts";

/** Rows per database read; the only rows an export holds at once. */
export const EXPORT_BATCH = 2_000;

/** Characters that make a spreadsheet read a cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180): quoted when it holds a quote, comma or line
 * break; text that a spreadsheet would run as a formula gets a leading `'`.
 * Numbers are written as they are (a negative number is not a formula).
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  let text = Array.isArray(value) ? value.join(";") : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvLine(values: unknown[]): string {
  return `${values.map(csvCell).join(",")}\r\n`;
}

export type ExportKind = "egress" | "sessions";

export type ExportRequest =
  | { kind: "egress"; filter: AuditFilter }
  | { kind: "sessions"; filter: SessionFilter };

/**
 * The export's text, batch by batch: a header (CSV) and the rows, newest
 * first. Egress rows are those committed when it started (seq ≤ the head
 * then), so a long export is one consistent set. `onRows` counts as it goes.
 */
export async function* exportRows(
  db: Queryable,
  request: ExportRequest,
  options: {
    access: AuditAccess;
    now: Date;
    format: ExportFormat;
    batch?: number;
    onRows?: (total: number) => void;
  },
): AsyncGenerator<string> {
  const batch = options.batch ?? EXPORT_BATCH;
  const columns: readonly string[] = request.kind === "egress" ? EGRESS_COLUMNS : SESSION_COLUMNS;
  if (options.format === "csv") yield csvLine([...columns]);
  const throughSeq = request.kind === "egress" ? await egressHead(db) : undefined;
  let cursor: string | null = null;
  let total = 0;
  // Bounded by the rows there are: each batch moves the keyset cursor strictly down.
  for (;;) {
    const page: { rows: object[]; next: string | null } =
      request.kind === "egress"
        ? await listEgress(db, {
            filter: request.filter,
            access: options.access,
            now: options.now,
            limit: batch,
            cursor,
            throughSeq,
          })
        : await listSessions(db, {
            filter: request.filter,
            access: options.access,
            now: options.now,
            limit: batch,
            cursor,
          });
    let text = "";
    for (const row of page.rows) {
      const record = row as Record<string, unknown>;
      text +=
        options.format === "csv"
          ? csvLine(columns.map((column) => record[column]))
          : `${JSON.stringify(Object.fromEntries(columns.map((c) => [c, record[c]])))}\n`;
    }
    total += page.rows.length;
    options.onRows?.(total);
    if (text) yield text;
    if (!page.next) return;
    cursor = page.next;
  }
}

export interface ExportRecord {
  userId: string;
  userEmail: string;
  kind: ExportKind;
  format: ExportFormat;
  filter: object;
}

/** Records an export as it starts (so an interrupted one is on record too); returns its id. */
export async function recordExport(db: Queryable, record: ExportRecord): Promise<string> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO audit_export (id, "userId", "userEmail", kind, format, filter)
      VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
    [
      id,
      record.userId,
      record.userEmail,
      record.kind,
      record.format,
      JSON.stringify(record.filter),
    ],
  );
  return id;
}

/** Writes how many rows an export sent, once it ends. */
export async function finishExport(db: Queryable, id: string, rows: number): Promise<void> {
  await db.query(`UPDATE audit_export SET rows = $2 WHERE id = $1`, [id, rows]);
}
