/**
 * The sandbox list's rows and filters, shared by the tRPC router (which
 * makes rows from cached Sandboxes) and the browser (which keeps them live
 * and filters them). Pure data: no server or browser APIs here.
 */
import type { Sandbox } from "@turgon/api/crd";
import { z } from "zod";

/** What the list shows of one sandbox. */
export interface SandboxRow {
  /** `<namespace>/<name>`: unique, the row's key. */
  key: string;
  name: string;
  namespace: string;
  /** The team holding the namespace (its turgon.dev/team label, else its name). */
  team: string;
  uid: string;
  /** status.phase; Terminating once deletion started; Pending before the operator wrote any. */
  phase: DisplayPhase;
  node: string | null;
  url: string | null;
  createdAt: string | null;
  /** The Ready condition's status, if the operator has written one. */
  ready: "True" | "False" | "Unknown" | null;
  /** Why it is not ready (the Ready condition's reason) or what status.message says. */
  reason: string | null;
  operatingMode: "Running" | "Suspended";
}

export const DISPLAY_PHASES = [
  "Pending",
  "Starting",
  "Running",
  "Suspended",
  "Failed",
  "Terminating",
] as const;
export type DisplayPhase = (typeof DISPLAY_PHASES)[number];

export const sandboxKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** The phase a user should see: deletion in progress wins over what status last said. */
export function displayPhase(sandbox: Pick<Sandbox, "metadata" | "status">): DisplayPhase {
  if (sandbox.metadata.deletionTimestamp) return "Terminating";
  return sandbox.status?.phase ?? "Pending";
}

export function rowOf(sandbox: Sandbox, team: string): SandboxRow {
  const name = sandbox.metadata.name as string;
  const namespace = sandbox.metadata.namespace as string;
  const ready = sandbox.status?.conditions?.find((c) => c.type === "Ready");
  return {
    key: sandboxKey(namespace, name),
    name,
    namespace,
    team,
    uid: sandbox.metadata.uid ?? "",
    phase: displayPhase(sandbox),
    node: sandbox.status?.nodeName ?? null,
    url: sandbox.status?.ingress?.url ?? null,
    createdAt: sandbox.metadata.creationTimestamp ?? null,
    ready: ready?.status ?? null,
    reason:
      ready && ready.status !== "True"
        ? ready.reason || ready.message || null
        : (sandbox.status?.message ?? null),
    operatingMode: sandbox.spec.operatingMode ?? "Running",
  };
}

/** The list's filters, as the URL query holds them (`?namespace=…&phase=…&q=…`). */
export const SandboxFilters = z.object({
  namespace: z.string().max(63).optional(),
  team: z.string().max(63).optional(),
  phase: z.enum(DISPLAY_PHASES).optional(),
  node: z.string().max(253).optional(),
  /** Part of the name (or namespace/name), case-insensitive. */
  q: z.string().max(253).optional(),
});
/** Rows per page of the table: all are kept live in the browser, this many are drawn. */
export const PAGE_SIZE = 100;

/** The table's page from the URL query (1-based); anything else is the first page. */
export function pageFromQuery(
  query: Record<string, string | string[] | undefined> | URLSearchParams,
): number {
  const raw = query instanceof URLSearchParams ? query.get("page") : query.page;
  const page = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isInteger(page) && page >= 1 ? page : 1;
}
export type SandboxFilters = z.infer<typeof SandboxFilters>;
export const FILTER_KEYS = ["namespace", "team", "phase", "node", "q"] as const;

/**
 * Filters from a URL query: unknown or malformed values are dropped rather
 * than refused, so a hand-edited link still opens the page.
 */
export function filtersFromQuery(
  query: Record<string, string | string[] | undefined> | URLSearchParams,
): SandboxFilters {
  const get = (key: string) => {
    const value = query instanceof URLSearchParams ? query.get(key) : query[key];
    const one = Array.isArray(value) ? value[0] : value;
    return one?.trim() ? one.trim() : undefined;
  };
  const filters: SandboxFilters = {};
  for (const key of FILTER_KEYS) {
    const parsed = SandboxFilters.shape[key].safeParse(get(key));
    if (parsed.success && parsed.data !== undefined)
      (filters as Record<string, string>)[key] = parsed.data;
  }
  return filters;
}

export function matchesFilters(row: SandboxRow, filters: SandboxFilters): boolean {
  if (filters.namespace && row.namespace !== filters.namespace) return false;
  if (filters.team && row.team !== filters.team) return false;
  if (filters.phase && row.phase !== filters.phase) return false;
  if (filters.node && row.node !== filters.node) return false;
  if (filters.q) {
    const q = filters.q.toLowerCase();
    if (!row.name.includes(q) && !row.key.includes(q)) return false;
  }
  return true;
}

/** What the sandbox list subscription sends (each one tracked by the change log's cursor). */
export type SandboxListEvent =
  /** Everything visible now: replace the table (first event after a resync). */
  | { type: "snapshot"; cursor: string; rows: SandboxRow[] }
  | { type: "upsert"; row: SandboxRow }
  | { type: "remove"; key: string }
  /** A namespace changed team (admins see the team column follow). */
  | { type: "namespace"; name: string; team: string };

/**
 * A subscription id, `<epoch>:<seq>.<scope>` (the change log's cursor and
 * whom it was filtered for), to drop events a newer snapshot already holds.
 */
export function parseCursor(cursor: string): { epoch: string; seq: number } | undefined {
  const match = /^([0-9a-f]+):(\d+)(?:\.[0-9a-z]+)?$/.exec(cursor);
  return match ? { epoch: match[1] as string, seq: Number(match[2]) } : undefined;
}

/**
 * The table's rows as the subscription keeps them: seeded by the list
 * query's snapshot, then every change after its cursor. An event the
 * current snapshot already holds (same epoch, not newer) is dropped, so a
 * snapshot that arrives after some changes never goes backwards.
 */
export interface LiveRows {
  rows: Map<string, SandboxRow>;
  epoch: string | undefined;
  seq: number;
}

export function initialRows(snapshot: { cursor: string; rows: SandboxRow[] }): LiveRows {
  const cursor = parseCursor(snapshot.cursor);
  return {
    rows: new Map(snapshot.rows.map((row) => [row.key, row])),
    epoch: cursor?.epoch,
    seq: cursor?.seq ?? 0,
  };
}

export function applyEvent(
  state: LiveRows,
  { id, data }: { id: string; data: SandboxListEvent },
): LiveRows {
  if (data.type === "snapshot") return initialRows(data);
  const cursor = parseCursor(id);
  if (cursor && cursor.epoch === state.epoch && cursor.seq <= state.seq) return state;
  const next: LiveRows = {
    rows: state.rows,
    epoch: cursor?.epoch ?? state.epoch,
    seq: cursor?.seq ?? state.seq,
  };
  if (data.type === "upsert") {
    next.rows = new Map(state.rows);
    next.rows.set(data.row.key, data.row);
  } else if (data.type === "remove") {
    if (!state.rows.has(data.key)) return next;
    next.rows = new Map(state.rows);
    next.rows.delete(data.key);
  } else if (data.type === "namespace") {
    let changed = false;
    const rows = new Map(state.rows);
    for (const [key, row] of rows)
      if (row.namespace === data.name && row.team !== data.team) {
        rows.set(key, { ...row, team: data.team });
        changed = true;
      }
    if (changed) next.rows = rows;
  }
  return next;
}
