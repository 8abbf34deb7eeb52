/**
 * What the dashboard's lists and live updates come from: informer caches
 * of Sandboxes, SandboxNodes and Namespaces (read as the dashboard's own
 * identity, never per user) and a change log over them, filtered to the
 * namespaces of a user's teams (all for admins). A namespace's team is
 * `namespaceTeam` from api/routing: its label, else its name, the rule the
 * router enforces too.
 *
 * A tRPC subscription over SSE is `stream(lastEventId, filterFor(user),
 * { signal })`, each event sent as `tracked(event.id, event)`.
 */
import type { KubeConfig, KubernetesObject, V1Namespace } from "@kubernetes/client-node";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { namespaceTeam } from "@turgon/api/routing";
import {
  type Change,
  ChangeLog,
  type ChangeType,
  compileFilter,
  type Filter,
  type Resync,
} from "./changes.ts";
import {
  type CachedInformer,
  createInformers,
  type KubeInformers,
  startInformer,
  stopInformers,
} from "./informers.ts";
import { kubeLogger, type Logger } from "./log.ts";
import type { Principal } from "./principal.ts";

/** What a change carries: the object as it is now (or was, when deleted). */
export type CachedObject =
  | { kind: "Sandbox"; name: string; object: Sandbox }
  | { kind: "SandboxNode"; name: string; object: SandboxNode }
  | { kind: "Namespace"; name: string; object: V1Namespace };

export type KubeChange = Change<CachedObject>;

/** Everything a subscriber may see, as of `id` (the cursor to continue from). */
export interface Snapshot {
  type: "snapshot";
  id: string;
  sandboxes: Sandbox[];
  /** Only with the filter "all". */
  nodes: SandboxNode[];
  namespaces: V1Namespace[];
}

/** Lists and live updates: the whole picture first (or again), then each change. */
export type StreamEvent = Snapshot | KubeChange;

export interface KubeCacheOptions {
  /** Changes kept for resuming subscribers (default 4096). */
  capacity?: number;
  log?: Logger;
}

/** What a user sees: everything for admins, else the namespaces their teams hold. */
export function filterFor(principal: Pick<Principal, "teams" | "admin">): Filter {
  return principal.admin ? "all" : { teams: principal.teams };
}

export class KubeCache {
  readonly changes: ChangeLog<CachedObject>;
  private readonly informers: KubeInformers;
  /** Namespace → team, as last recorded, to tell what a namespace's change did to its team. */
  private readonly teams = new Map<string, string>();

  /**
   * Builds the informers for `kc` (the dashboard's identity) and waits until
   * each has listed. Namespaces first, so sandboxes are never recorded
   * under a team their namespace is about to contradict.
   */
  static async start(kc: KubeConfig, options: KubeCacheOptions = {}): Promise<KubeCache> {
    const log = options.log ?? kubeLogger;
    const informers = createInformers(kc);
    const cache = new KubeCache(informers, options);
    try {
      await startInformer("namespaces", informers.namespaces as never, log);
      await Promise.all([
        startInformer("sandboxes", informers.sandboxes as never, log),
        startInformer("sandboxnodes", informers.nodes as never, log),
      ]);
    } catch (error) {
      await stopInformers(informers);
      throw error;
    }
    log.info(
      {
        namespaces: informers.namespaces.list().length,
        sandboxes: informers.sandboxes.list().length,
        cursor: cache.changes.cursor,
      },
      "kube cache synced",
    );
    return cache;
  }

  /** Follows informers that are (or will be) started elsewhere. */
  constructor(informers: KubeInformers, options: KubeCacheOptions = {}) {
    this.informers = informers;
    this.changes = new ChangeLog<CachedObject>(options.capacity);
    const follow = <T extends KubernetesObject>(
      informer: CachedInformer<T>,
      record: (type: ChangeType, object: T) => void,
    ) => {
      informer.on("add", (object) => record("added", object));
      informer.on("update", (object) => record("modified", object));
      informer.on("delete", (object) => record("deleted", object));
    };
    follow(informers.namespaces, (type, namespace) => this.recordNamespace(type, namespace));
    follow(informers.sandboxes, (type, sandbox) => {
      const name = sandbox.metadata.name as string;
      const namespace = sandbox.metadata.namespace as string;
      const team = this.teamOf(namespace);
      this.changes.append({ type, kind: "Sandbox", name, namespace, team, object: sandbox });
    });
    follow(informers.nodes, (type, node) => {
      this.changes.append({
        type,
        kind: "SandboxNode",
        name: node.metadata.name as string,
        object: node,
      });
    });
  }

  private recordNamespace(type: ChangeType, object: V1Namespace): void {
    const name = object.metadata?.name as string;
    const previousTeam = this.teams.get(name) ?? name;
    const change = { type, kind: "Namespace" as const, name, namespace: name, object };
    // A namespace goes only once its objects have gone: its deletion moves nothing.
    if (type === "deleted") {
      this.teams.delete(name);
      this.changes.append({ ...change, team: previousTeam });
      return;
    }
    const team = namespaceTeam(name, object);
    this.teams.set(name, team);
    // A new namespace moves objects between teams only if some were seen before it (a relist).
    const moves =
      previousTeam !== team &&
      (type === "modified" || this.informers.sandboxes.list(name).length > 0);
    this.changes.append({ ...change, team, ...(moves ? { previousTeam } : {}) });
  }

  /** The team holding `namespace`: its turgon.dev/team label, else its name. */
  teamOf(namespace: string): string {
    return namespaceTeam(namespace, this.informers.namespaces.get(namespace));
  }

  /** The namespaces the given teams hold now (sorted). */
  namespacesOf(teams: Iterable<string>): string[] {
    const wanted = new Set(teams);
    return this.informers.namespaces
      .list()
      .map((namespace) => namespace.metadata?.name as string)
      .filter((name) => wanted.has(this.teamOf(name)))
      .sort();
  }

  /** The cursor of the latest change. */
  get cursor(): string {
    return this.changes.cursor;
  }

  /** Everything `filter` lets through, now, with the cursor to continue from. */
  snapshot(filter: Filter): Snapshot {
    // Informer caches change only in event callbacks, which also append to the
    // log, all synchronously: this picture is exactly as of this cursor.
    const id = this.changes.cursor;
    const { visible } = compileFilter(filter);
    const namespaces = this.informers.namespaces.list().filter((namespace) => {
      const name = namespace.metadata?.name as string;
      return visible({ namespace: name, team: this.teamOf(name) });
    });
    const sandboxes = this.informers.sandboxes.list().filter((sandbox) => {
      const namespace = sandbox.metadata.namespace as string;
      return visible({ namespace, team: this.teamOf(namespace) });
    }) as Sandbox[];
    const nodes = filter === "all" ? (this.informers.nodes.list() as SandboxNode[]) : [];
    return {
      type: "snapshot",
      id,
      sandboxes: byKey(sandboxes),
      nodes: byKey(nodes),
      namespaces: byKey(namespaces),
    };
  }

  /** See ChangeLog.changesSince: each change after `cursor`, or one Resync. */
  changesSince(
    cursor: string | undefined,
    filter: Filter,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<KubeChange | Resync> {
    return this.changes.changesSince(cursor, filter, options);
  }

  /**
   * A subscription: resumes after `lastEventId` when the log still holds
   * what followed it, else starts with a snapshot; then every change, and
   * a fresh snapshot whenever a resync is needed. Each event's `id` is the
   * cursor to resume from.
   */
  async *stream(
    lastEventId: string | undefined,
    filter: Filter,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<StreamEvent> {
    let cursor = lastEventId;
    while (!options.signal?.aborted) {
      if (typeof this.changes.position(cursor) !== "number") {
        const snapshot = this.snapshot(filter);
        cursor = snapshot.id;
        yield snapshot;
      }
      for await (const event of this.changes.changesSince(cursor, filter, options)) {
        if (event.type === "resync") {
          cursor = undefined;
          break;
        }
        cursor = event.id;
        yield event;
      }
    }
  }

  async stop(): Promise<void> {
    await stopInformers(this.informers);
  }
}

const byKey = <T extends { metadata?: { name?: string; namespace?: string } }>(items: T[]) =>
  items.sort((a, b) =>
    `${a.metadata?.namespace ?? ""}/${a.metadata?.name}`.localeCompare(
      `${b.metadata?.namespace ?? ""}/${b.metadata?.name}`,
    ),
  );
