/**
 * The audit view's filters, rows and cursors, shared by the browser and the
 * server: the URL query of /audit and of the export route is parsed here,
 * by the same code the tRPC procedures validate their input with, so a
 * shared link, the page and an export always mean the same set of rows.
 */
import { z } from "zod";

export const RANGE_PRESETS = ["5m", "15m", "1h", "6h", "24h", "7d", "30d"] as const;
export type RangePreset = (typeof RANGE_PRESETS)[number];
export const DEFAULT_RANGE: RangePreset = "24h";

export const PRESET_MS: Record<RangePreset, number> = {
  "5m": 5 * 60_000,
  "15m": 15 * 60_000,
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 24 * 3_600_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

export const DECISIONS = ["allowed", "denied", "would-deny"] as const;
export type Decision = (typeof DECISIONS)[number];
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];
export const SESSION_KINDS = ["exec", "ssh"] as const;

/** The most rows one page (or one export batch) holds. */
export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 50;

const dnsLabel = z
  .string()
  .max(63, "must be at most 63 characters")
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label (lower-case letters, digits, -)");
const objectName = z
  .string()
  .max(253, "must be at most 253 characters")
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes object name");
/** A host name or address, with `*` standing for any run of characters. */
const hostPattern = z
  .string()
  .trim()
  .toLowerCase()
  .max(255, "must be at most 255 characters")
  .regex(
    /^[a-z0-9.*:_[\]-]+$/,
    "must be a host name, an address, or a pattern such as *.github.com",
  );
const isoTime = z.iso.datetime({ offset: true, error: "must be an ISO-8601 time" });

const filterShape = {
  range: z
    .enum([...RANGE_PRESETS, "custom"], {
      error: `must be one of ${RANGE_PRESETS.join(", ")} or custom`,
    })
    .default(DEFAULT_RANGE),
  /** With range=custom: the window's start (inclusive) and end (exclusive; now when absent). */
  from: isoTime.optional(),
  to: isoTime.optional(),
  team: dnsLabel.optional(),
  namespace: dnsLabel.optional(),
  sandbox: objectName.optional(),
  host: hostPattern.optional(),
  method: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z]{1,16}$/, "must be an HTTP method such as GET")
    .optional(),
  decision: z.enum(DECISIONS, { error: `must be one of ${DECISIONS.join(", ")}` }).optional(),
  status: z
    .enum(STATUS_CLASSES, { error: `must be one of ${STATUS_CLASSES.join(", ")}` })
    .optional(),
  secret: z
    .string()
    .max(253, "must be at most 253 characters")
    .regex(/^[A-Za-z0-9._-]+$/, "must be a secret name")
    .optional(),
};

function checkWindow(
  filter: { range: string; from?: string | undefined; to?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (filter.range === "custom") {
    if (!filter.from)
      ctx.addIssue({ code: "custom", path: ["from"], message: "is required with range=custom" });
    else if (filter.to && Date.parse(filter.to) <= Date.parse(filter.from))
      ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
  } else if (filter.from || filter.to) {
    ctx.addIssue({
      code: "custom",
      path: [filter.from ? "from" : "to"],
      message: "is only allowed with range=custom",
    });
  }
}

/** What the egress list, summaries, live tail and export are filtered by. */
export const AuditFilter = z.object(filterShape).superRefine(checkWindow);
export type AuditFilter = z.infer<typeof AuditFilter>;
export type AuditFilterInput = z.input<typeof AuditFilter>;

/** The sessions tab's filter: the same window and scope, and the kind of session. */
export const SessionFilter = z
  .object({
    range: filterShape.range,
    from: filterShape.from,
    to: filterShape.to,
    team: filterShape.team,
    namespace: filterShape.namespace,
    sandbox: filterShape.sandbox,
    kind: z.enum(SESSION_KINDS, { error: "must be exec or ssh" }).optional(),
  })
  .superRefine(checkWindow);
export type SessionFilter = z.infer<typeof SessionFilter>;

/** Filter keys in the order the URL query and the filter bar show them. */
export const FILTER_KEYS = [
  "range",
  "from",
  "to",
  "team",
  "namespace",
  "sandbox",
  "host",
  "method",
  "decision",
  "status",
  "secret",
] as const satisfies readonly (keyof AuditFilter)[];
export const SESSION_FILTER_KEYS = [
  "range",
  "from",
  "to",
  "team",
  "namespace",
  "sandbox",
  "kind",
] as const satisfies readonly (keyof SessionFilter)[];

export interface QueryParse<T> {
  filter: T;
  /** Bad parameters, by name: each was dropped from the filter, and the page says why. */
  errors: Record<string, string>;
}

type Query = Record<string, string | string[] | undefined> | URLSearchParams;

function rawParams(query: Query, keys: readonly string[]): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const key of keys) {
    const value = query instanceof URLSearchParams ? query.get(key) : query[key];
    const one = Array.isArray(value) ? value[0] : value;
    if (one !== undefined && one !== null && one !== "") raw[key] = one;
  }
  return raw;
}

function parseLenient<S extends z.ZodType<object>>(
  schema: S,
  raw: Record<string, string>,
): QueryParse<z.infer<S>> {
  const errors: Record<string, string> = {};
  let candidate: Record<string, string> = { ...raw };
  // Each pass drops the parameters named by an issue; a filter of fewer keys always parses.
  for (let pass = 0; pass < 4; pass++) {
    const parsed = schema.safeParse(candidate);
    if (parsed.success) return { filter: parsed.data, errors };
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? "range");
      errors[key] ??= issue.message;
      delete candidate[key];
      // A window that does not parse is dropped whole: the default range applies.
      if (key === "from" || key === "to" || key === "range") {
        const { from: _from, to: _to, range: _range, ...rest } = candidate;
        candidate = rest;
      }
    }
  }
  return { filter: schema.parse({}), errors };
}

/**
 * A filter from a URL query (the page's address, the export link): bad
 * parameters are dropped and named in `errors` rather than failing the page.
 */
export function filterFromQuery(query: Query): QueryParse<AuditFilter> {
  return parseLenient(AuditFilter, rawParams(query, FILTER_KEYS));
}
export function sessionFilterFromQuery(query: Query): QueryParse<SessionFilter> {
  return parseLenient(SessionFilter, rawParams(query, SESSION_FILTER_KEYS));
}

/** The URL query of a filter (the default range left out), for links and the address bar. */
export function filterToQuery(filter: Partial<AuditFilter> | Partial<SessionFilter>): string {
  const params = new URLSearchParams();
  const values = filter as Record<string, string | undefined>;
  for (const key of [...FILTER_KEYS, "kind"]) {
    const value = values[key];
    if (value === undefined || value === "") continue;
    if (key === "range" && value === DEFAULT_RANGE) continue;
    params.set(key, value);
  }
  return params.toString();
}

export interface TimeWindow {
  from: Date;
  /** Exclusive; null means open-ended (presets include what arrives from now on). */
  to: Date | null;
}

/** The absolute window of a filter at `now`. */
export function windowOf(
  filter: Pick<AuditFilter, "range" | "from" | "to">,
  now: Date,
): TimeWindow {
  if (filter.range === "custom")
    return {
      from: new Date(filter.from ?? now.toISOString()),
      to: filter.to ? new Date(filter.to) : null,
    };
  return { from: new Date(now.getTime() - PRESET_MS[filter.range]), to: null };
}

/** The status codes a class stands for: [low, high) or null for "no answer". */
export function statusRange(status: StatusClass): [number, number] | null {
  if (status === "none") return null;
  const hundred = Number(status[0]) * 100;
  return [hundred, hundred + 100];
}

/** A LIKE pattern for a host filter with `*` wildcards (`\` escapes), or null for an exact match. */
export function hostLikePattern(host: string): string | null {
  if (!host.includes("*")) return null;
  return host.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*+/g, "%");
}

/** One egress request, as the list, the live tail, the details and the export show it. */
export interface EgressRow {
  id: string;
  /** ISO-8601 UTC, milliseconds. */
  time: string;
  /** Commit order (a decimal string: a BIGINT). */
  seq: string;
  receivedAt: string;
  node: string;
  namespace: string;
  sandbox: string;
  sandboxUid: string;
  team: string | null;
  method: string;
  scheme: string;
  host: string;
  port: number;
  path: string;
  status: number | null;
  decision: Decision;
  reason: string;
  policy: string | null;
  secrets: string[];
  bytesSent: number | null;
  bytesReceived: number | null;
  durationMs: number;
}

export interface SessionRow {
  id: string;
  kind: string;
  user: string;
  node: string;
  namespace: string;
  sandbox: string;
  team: string | null;
  /** Empty for an interactive shell. */
  command: string[];
  tty: boolean;
  startedAt: string;
  endedAt: string;
  exitCode: number | null;
  reason: string;
}

/**
 * Keyset cursors: the last row's sort key, opaque to the browser.
 * Egress rows sort by (time desc, seq desc); sessions by (startedAt desc, id desc).
 */
export const EgressCursor = z
  .string()
  .regex(/^\d{1,15}_\d{1,19}$/, "must be a cursor from a previous page");
export const SessionCursor = z
  .string()
  .regex(/^\d{1,15}_[0-9a-f-]{36}$/, "must be a cursor from a previous page");

export function egressCursorOf(row: Pick<EgressRow, "time" | "seq">): string {
  return `${Date.parse(row.time)}_${row.seq}`;
}
export function parseEgressCursor(cursor: string): { time: Date; seq: string } {
  const [ms, seq] = cursor.split("_") as [string, string];
  return { time: new Date(Number(ms)), seq };
}
export function sessionCursorOf(row: Pick<SessionRow, "startedAt" | "id">): string {
  return `${Date.parse(row.startedAt)}_${row.id}`;
}
export function parseSessionCursor(cursor: string): { startedAt: Date; id: string } {
  const cut = cursor.indexOf("_");
  return { startedAt: new Date(Number(cursor.slice(0, cut))), id: cursor.slice(cut + 1) };
}

/** Newest first, as the list sorts: (time desc, seq desc). */
export function compareEgress(a: EgressRow, b: EgressRow): number {
  const byTime = Date.parse(b.time) - Date.parse(a.time);
  if (byTime !== 0) return byTime;
  const bySeq = BigInt(b.seq) - BigInt(a.seq);
  return bySeq > 0n ? 1 : bySeq < 0n ? -1 : 0;
}

/** How long a session lasted, in ms. */
export function sessionDurationMs(row: Pick<SessionRow, "startedAt" | "endedAt">): number {
  return Math.max(0, Date.parse(row.endedAt) - Date.parse(row.startedAt));
}

/** "850 ms", "12.4 s", "3 min 5 s", "2 h 4 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "1.2 kB", "3.4 MB". */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return "—";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Export formats and the columns of a CSV export, in order. */
export const EXPORT_FORMATS = ["csv", "ndjson"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EGRESS_COLUMNS = [
  "time",
  "id",
  "seq",
  "team",
  "namespace",
  "sandbox",
  "sandboxUid",
  "node",
  "method",
  "scheme",
  "host",
  "port",
  "path",
  "status",
  "decision",
  "reason",
  "policy",
  "secrets",
  "bytesSent",
  "bytesReceived",
  "durationMs",
  "receivedAt",
] as const satisfies readonly (keyof EgressRow)[];
export const SESSION_COLUMNS = [
  "startedAt",
  "endedAt",
  "id",
  "kind",
  "user",
  "team",
  "namespace",
  "sandbox",
  "node",
  "command",
  "tty",
  "exitCode",
  "reason",
] as const satisfies readonly (keyof SessionRow)[];
