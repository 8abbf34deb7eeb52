/**
 * Namespace → team at ingest, from a namespace informer as the dashboard's
 * own identity (ClusterRole turgon-web may list and watch namespaces). The
 * team is stored in each row, so a team or namespace deleted later keeps
 * its history.
 *
 * When Kubernetes cannot be reached, ingest does not wait for it: start-up
 * waits at most --kube-sync-timeout-seconds for the first list, then
 * consumes anyway; an event whose namespace is not (yet) known is stored
 * with team null, counted and logged. The informer keeps retrying, and once
 * it has listed, its cache answers even while the API server is away.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  type V1Namespace,
} from "@kubernetes/client-node";
import { namespaceTeam } from "@turgon/api/routing";
import type { Logger } from "./logger.ts";

/** Answers which team a namespace belongs to. */
export interface TeamDirectory {
  /**
   * The team by the one rule the router and the dashboard use too
   * (namespaceTeam: the turgon.dev/team label, else the namespace's name),
   * so a row is visible to the team that may use its sandbox. Null only
   * while the namespace list has not been read and the namespace is not
   * known: then the label cannot be told from its absence.
   */
  teamOf(namespace: string): string | null;
  /** Whether the namespace list has been read at least once. */
  readonly synced: boolean;
  stop(): Promise<void>;
}

/** namespaceTeam once the namespace list is known; null for an unknown namespace before it is. */
export function teamOf(
  name: string,
  namespace: V1Namespace | undefined,
  listed: boolean,
): string | null {
  return namespace || listed ? namespaceTeam(name, namespace) : null;
}

export async function startTeamDirectory(
  kc: KubeConfig,
  options: { syncTimeoutMs: number; log: Logger },
): Promise<TeamDirectory> {
  const log = options.log.child({ component: "teams" });
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(kc, "/api/v1/namespaces", () => core.listNamespace());
  // client-node's ListWatch stops on errors other than 410 Gone: start it again.
  let stopped = false;
  informer.on("error", (error) => {
    if (stopped) return;
    log.warn({ err: (error as Error)?.message }, "namespace list or watch failed; retrying in 2 s");
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => {});
    }, 2000).unref();
  });
  const listWatch = informer as unknown as { latestResourceVersion(): string };
  const isSynced = () => Boolean(listWatch.latestResourceVersion());
  await informer.start().catch(() => {});
  const deadline = Date.now() + options.syncTimeoutMs;
  while (!isSynced() && Date.now() < deadline) await sleep(100);
  if (isSynced()) log.info("namespaces listed; teams resolve from their labels");
  else
    log.warn(
      { waitedMs: options.syncTimeoutMs },
      "Kubernetes has not answered the namespace list; ingesting with team null for unknown namespaces until it does",
    );
  return {
    teamOf: (namespace) => teamOf(namespace, informer.get(namespace), isSynced()),
    get synced() {
      return isSynced();
    },
    async stop() {
      stopped = true;
      await informer.stop().catch(() => {});
    },
  };
}

/** For a worker without Kubernetes access configured at all: no label is known, every team is null. */
export const NO_TEAMS: TeamDirectory = {
  teamOf: () => null,
  synced: false,
  stop: async () => {},
};
