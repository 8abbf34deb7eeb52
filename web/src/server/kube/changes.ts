/**
 * The change log behind live lists: every change the dashboard's
 * informers see gets the next sequence number and sits in a bounded ring
 * buffer, so a subscriber can resume exactly after the last change it was
 * sent (a tRPC `tracked()` id) without losing or repeating one, or learn
 * that it must start again from a snapshot.
 *
 * Cursors are `<epoch>:<seq>`. The epoch is random per log (per process),
 * so a cursor from before a restart is never mistaken for a position in
 * this log; it asks for a resync instead.
 */
import { randomBytes } from "node:crypto";

export type ChangeType = "added" | "modified" | "deleted";

/** Where a change belongs, for filtering. */
export interface ChangeScope {
  /** The object's namespace (a Namespace's own name); none for cluster-scoped objects. */
  namespace?: string;
  /** The team that held the namespace when the change happened. */
  team?: string;
  /** For a Namespace whose team changed: the team before (its objects move between teams). */
  previousTeam?: string;
}

export type Change<P> = { id: string; seq: number; type: ChangeType } & ChangeScope & P;

/**
 * Which changes a subscriber sees: everything (admins), the objects in
 * some namespaces, or in the namespaces that some teams hold (resolved at
 * each change, so a namespace bound to one of the teams while subscribed
 * comes into view with a resync). Cluster-scoped objects (SandboxNodes)
 * are in "all" only.
 */
export type Filter = "all" | { namespaces: Iterable<string> } | { teams: Iterable<string> };

export type ResyncReason =
  /** No cursor, or one from another process (the dashboard restarted). */
  | "unknown-cursor"
  /** The changes after the cursor are no longer buffered (away too long, or too slow). */
  | "expired"
  /** A namespace moved into or out of the subscriber's teams: its objects appear or vanish at once. */
  | "scope-changed";

export interface Resync {
  type: "resync";
  reason: ResyncReason;
}

interface CompiledFilter {
  visible(scope: ChangeScope): boolean;
  /** Whether this change moves objects into or out of view. */
  movesScope(scope: ChangeScope): boolean;
}

export function compileFilter(filter: Filter): CompiledFilter {
  if (filter === "all") return { visible: () => true, movesScope: () => false };
  if ("namespaces" in filter) {
    const namespaces = new Set(filter.namespaces);
    return {
      visible: (s) => s.namespace !== undefined && namespaces.has(s.namespace),
      movesScope: () => false,
    };
  }
  const teams = new Set(filter.teams);
  return {
    visible: (s) => s.namespace !== undefined && s.team !== undefined && teams.has(s.team),
    movesScope: (s) =>
      s.previousTeam !== undefined &&
      s.previousTeam !== s.team &&
      (teams.has(s.previousTeam) || (s.team !== undefined && teams.has(s.team))),
  };
}

export class ChangeLog<P extends object> {
  readonly epoch: string;
  readonly capacity: number;
  private seq = 0;
  private readonly ring: (Change<P> | undefined)[];
  private waiters = new Set<() => void>();

  constructor(capacity = 4096, epoch = randomBytes(6).toString("hex")) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be ≥ 1");
    if (!/^[0-9a-f]+$/.test(epoch)) throw new RangeError("epoch must be lower-case hex");
    this.capacity = capacity;
    this.epoch = epoch;
    this.ring = new Array(capacity);
  }

  /** The cursor of the latest change: a snapshot taken now is as of this cursor. */
  get cursor(): string {
    return `${this.epoch}:${this.seq}`;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The oldest sequence number still buffered. */
  private get oldest(): number {
    return Math.max(1, this.seq - this.capacity + 1);
  }

  append(change: { type: ChangeType } & ChangeScope & P): Change<P> {
    this.seq += 1;
    const entry = { ...change, id: `${this.epoch}:${this.seq}`, seq: this.seq } as Change<P>;
    this.ring[this.seq % this.capacity] = entry;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
    return entry;
  }

  /**
   * The sequence number a cursor stands for, if every change after it is
   * still here; else why the subscriber must resync.
   */
  position(cursor: string | undefined): number | ResyncReason {
    const match = cursor === undefined ? null : /^([0-9a-f]+):(\d+)$/.exec(cursor);
    if (!match || match[1] !== this.epoch) return "unknown-cursor";
    const seq = Number(match[2]);
    if (seq > this.seq) return "unknown-cursor";
    return seq + 1 >= this.oldest ? seq : "expired";
  }

  /**
   * Every change after `cursor` that `filter` lets through, in order, then
   * each new one as it comes, until `signal` aborts. When that cannot be
   * done (see ResyncReason) it yields one Resync and ends: send a fresh
   * snapshot and continue from the snapshot's cursor.
   */
  async *changesSince(
    cursor: string | undefined,
    filter: Filter,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Change<P> | Resync> {
    const { signal } = options;
    const start = this.position(cursor);
    if (typeof start !== "number") {
      yield { type: "resync", reason: start };
      return;
    }
    const compiled = compileFilter(filter);
    let position = start;
    while (!signal?.aborted) {
      while (position < this.seq) {
        // A slow subscriber may have been overtaken by more than `capacity` changes.
        if (position + 1 < this.oldest) {
          yield { type: "resync", reason: "expired" };
          return;
        }
        position += 1;
        const change = this.ring[position % this.capacity] as Change<P>;
        if (compiled.movesScope(change)) {
          yield { type: "resync", reason: "scope-changed" };
          return;
        }
        if (compiled.visible(change)) yield change;
        if (signal?.aborted) return;
      }
      await this.nextAppend(signal);
    }
  }

  /** Resolves at the next append, or when `signal` aborts. */
  private nextAppend(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        signal?.removeEventListener("abort", wake);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
    });
  }
}
