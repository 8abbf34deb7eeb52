"use client";

import { parseCursor, type SandboxListEvent, type SandboxRow } from "~/lib/sandboxes.ts";

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
