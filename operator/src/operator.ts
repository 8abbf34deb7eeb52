import type { AddressInfo } from "node:net";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ObservedSandbox } from "@turgon/api/agent";
import { loadAgentCredentials } from "@turgon/api/agent/credentials";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { findCondition, isReady } from "@turgon/api/crd";
import { sandboxSshCommand, sandboxUrl } from "@turgon/api/routing/edge";
import { loadKubeConfig } from "@turgon/toolkit/daemon";
import { FlagFileError } from "@turgon/toolkit/flags";
import { LeaderElector, objectKey, startCaches, stopCaches } from "@turgon/toolkit/kube";
import { serveMetrics } from "@turgon/toolkit/metrics";
import { AgentClient } from "./agents/client.ts";
import { AgentEventStreams } from "./agents/streams.ts";
import type { OperatorConfig } from "./config/config.ts";
import { followEdge } from "./config/edge.ts";
import { type Caches, createCaches } from "./controller/caches.ts";
import { runWorkers } from "./controller/controller.ts";
import { SpecChangeFilter } from "./controller/predicates.ts";
import { WorkQueue } from "./controller/workqueue.ts";
import { EventRecorder } from "./events/recorder.ts";
import { type Logger, logger } from "./logger.ts";
import { OperatorMetrics } from "./metrics/metrics.ts";
import { collectOrphanVms } from "./reconcile/garbage.ts";
import { NodeHealthMonitor } from "./reconcile/node-health.ts";
import { referencesOf } from "./reconcile/references.ts";
import { SandboxReconciler } from "./reconcile/sandbox.ts";
import { WarmPoolController } from "./warm-pools.ts";

export interface RunningOperator {
  metricsUrl: string;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export { FlagFileError as ConfigFileError };

const GC_INTERVAL_MS = 60_000;

/**
 * Starts the operator: informer caches on every replica, and on the leader
 * only the sandbox workers, the node health monitor, the agent event
 * streams and the orphan-VM collector.
 */
export async function startOperator(
  config: OperatorConfig,
  options: { log?: Logger; onLostLeadership?: () => void } = {},
): Promise<RunningOperator> {
  const log = options.log ?? logger;
  const kc = loadKubeConfig({
    file: config.kubeconfig,
    serviceAccount: "turgon-system/turgon-operator",
  });
  const credentials = await loadAgentCredentials(config);

  // Every sandbox's URL and SSH command follow the edge ConfigMap: a change reconciles them all.
  const edge = await followEdge(kc, config, log, () => {
    if (leading) for (const sandbox of caches.sandboxes.list()) queue.add(objectKey(sandbox));
  });
  const caches = createCaches(kc, {
    ...(config["sandbox-selector"] ? { sandboxes: config["sandbox-selector"] } : {}),
    ...(config["node-selector"] ? { nodes: config["node-selector"] } : {}),
  });
  const queue = new WorkQueue<string>({ baseMs: 500, maxMs: 60_000 });
  const metrics = new OperatorMetrics(() => queue.length);
  const agents = new AgentClient({ credentials });
  const events = new EventRecorder(kc, log);
  const warmPools = new WarmPoolController({
    kc,
    caches,
    agents,
    events,
    metrics,
    log,
    resyncMs: config["resync-seconds"] * 1000,
  });
  const reconciler = new SandboxReconciler({
    kc,
    caches,
    agents,
    events,
    metrics,
    log,
    ingressUrl: (name, namespace) => sandboxUrl(edge.current(), name, namespace),
    sshCommand: (name, namespace) => sandboxSshCommand(edge.current(), name, namespace),
    nodeLostMs: config["node-lost-seconds"] * 1000,
    resyncMs: config["resync-seconds"] * 1000,
    warm: warmPools.state,
  });
  const streams = new AgentEventStreams({
    agents,
    log,
    onSandbox: (observed, deleted) => onAgentEvent(caches, queue, reconciler, observed, deleted),
    onConnected: (node) => {
      enqueueOnNode(caches, queue, reconciler, node);
      const registered = caches.nodes.get(node) as SandboxNode | undefined;
      if (registered) void warmPools.onConnected(registered);
    },
    onWarmPool: (node, pool, deleted) => warmPools.onWarmPool(node, pool, deleted),
  });
  const monitor = new NodeHealthMonitor({
    kc,
    caches,
    events,
    log,
    graceMs: config["node-monitor-grace-seconds"] * 1000,
    onNotReady: (node) => enqueueOnNode(caches, queue, reconciler, node),
  });
  let leading = false;
  let stopping = false;
  wireTriggers(caches, queue, reconciler, () => {
    if (!leading) return;
    streams.sync(readyNodes(caches));
    warmPools.enqueueAll();
  });

  const server = await serveMetrics(
    config["metrics-host"],
    config["metrics-port"],
    metrics.registry,
    () => ({
      leader: leading,
    }),
  );
  await startCaches(caches, log);
  log.info({ identity: config.identity }, "informer caches synced");

  let workers: Promise<void> | undefined;
  let gcTimer: NodeJS.Timeout | undefined;
  const startLeading = () => {
    leading = true;
    metrics.leader.set(1);
    log.info({ identity: config.identity }, "leading: reconciling sandboxes");
    workers = runWorkers({
      name: "sandbox",
      queue,
      workers: config.workers,
      reconcile: reconciler.reconcile,
      metrics,
      log,
    });
    for (const sandbox of caches.sandboxes.list()) queue.add(objectKey(sandbox));
    warmPools.start(reconciler);
    monitor.start();
    streams.sync(readyNodes(caches));
    const collect = () =>
      void collectOrphanVms({ caches, agents, log, nodeOf: (s) => reconciler.nodeOf(s) }).catch(
        (error) => log.warn({ err: error }, "orphan VM collection failed"),
      );
    gcTimer = setInterval(collect, GC_INTERVAL_MS);
    gcTimer.unref();
    setTimeout(collect, 5_000).unref();
  };
  const stopLeading = () => {
    if (!leading) return;
    leading = false;
    metrics.leader.set(0);
    log.warn({ identity: config.identity }, "lost leadership: stopping");
    queue.shutDown();
    void warmPools.stop();
    monitor.stop();
    streams.stop();
    clearInterval(gcTimer);
    if (!stopping) options.onLostLeadership?.();
  };

  const elector =
    config["leader-elect"] === "true"
      ? new LeaderElector(kc, {
          namespace: config["lease-namespace"],
          name: config["lease-name"],
          identity: config.identity,
          onStartedLeading: startLeading,
          onStoppedLeading: stopLeading,
        })
      : undefined;
  if (elector) elector.start();
  else startLeading();

  const address = server.address() as AddressInfo;
  return {
    metricsUrl: `http://${config["metrics-host"]}:${address.port}/metrics`,
    isLeader: () => leading,
    async stop() {
      stopping = true;
      if (elector) await elector.stop();
      stopLeading();
      await workers;
      await warmPools.stop();
      edge.stop();
      await stopCaches(caches);
      await agents.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function readyNodes(caches: Caches): SandboxNode[] {
  return (caches.nodes.list() as SandboxNode[]).filter(isReady);
}

function enqueueOnNode(
  caches: Caches,
  queue: WorkQueue<string>,
  reconciler: SandboxReconciler,
  node: string,
) {
  for (const sandbox of caches.sandboxes.list() as Sandbox[]) {
    if (reconciler.nodeOf(sandbox) === node) queue.add(objectKey(sandbox as KubernetesObject));
  }
}

function onAgentEvent(
  caches: Caches,
  queue: WorkQueue<string>,
  reconciler: SandboxReconciler,
  observed: ObservedSandbox,
  deleted: boolean,
) {
  // An echo of what a reconcile already read (its own PUT's reply) reconciles nothing.
  const news = reconciler.observe(observed);
  if (!news && !deleted) return;
  const sandbox = caches.sandboxes.get(observed.name, observed.namespace) as Sandbox | undefined;
  if (sandbox?.metadata.uid === observed.uid) queue.add(`${observed.namespace}/${observed.name}`);
}

/** Which changes reconcile which sandboxes. */
function wireTriggers(
  caches: Caches,
  queue: WorkQueue<string>,
  reconciler: SandboxReconciler,
  onNodesChanged: () => void,
) {
  // The operator's own status writes come back as updates that change nothing it acts on.
  const changes = new SpecChangeFilter();
  const enqueue = (object: KubernetesObject) => queue.add(objectKey(object));
  caches.sandboxes.on("add", (s) => changes.added(s) && enqueue(s));
  caches.sandboxes.on(
    "update",
    (s) => changes.updated(s) && !reconciler.wrote(s as Sandbox) && enqueue(s),
  );
  caches.sandboxes.on("delete", (s) => changes.deleted(s) && enqueue(s));

  const dependents = (
    namespace: string | undefined,
    matches: (refs: ReturnType<typeof referencesOf>) => boolean,
  ) => {
    for (const sandbox of caches.sandboxes.list(namespace) as Sandbox[]) {
      const refs = referencesOf(sandbox, {
        template: (name) => caches.templates.get(name, namespace),
        policy: (name) => caches.policies.get(name, namespace),
      });
      if (matches(refs)) queue.add(objectKey(sandbox as KubernetesObject));
    }
  };
  for (const verb of ["add", "update", "delete"] as const) {
    caches.policies.on(verb, (p) =>
      dependents(p.metadata?.namespace, (r) => r.policy === p.metadata?.name),
    );
    caches.templates.on(verb, (t) =>
      dependents(t.metadata?.namespace, (r) => r.template === t.metadata?.name),
    );
    caches.secrets.on(verb, (s) =>
      dependents(s.metadata?.namespace, (r) => r.secrets.has(s.metadata?.name as string)),
    );
  }

  // Heartbeats update nodes every few seconds: react to readiness changes, not to every beat.
  // A restarted agent may come back at a new address: that too is a change worth acting on.
  const lastSeen = new Map<string, string>();
  const onNode = (node: SandboxNode & KubernetesObject, deleted = false) => {
    const name = node.metadata.name as string;
    const ready = deleted ? "Deleted" : findCondition(node.status?.conditions, "Ready")?.status;
    // Room is allocatable minus placed sandboxes, so only readiness, address, allocatable and
    // schedulability matter; a heartbeat that changes none of them reconciles nothing.
    const seen = JSON.stringify([
      ready,
      node.spec?.address,
      node.spec?.ingressAddress,
      node.spec?.unschedulable,
      node.status?.capacity,
      node.status?.allocatable,
    ]);
    if (lastSeen.get(name) === seen) return;
    if (deleted) lastSeen.delete(name);
    else lastSeen.set(name, seen);
    enqueueOnNode(caches, queue, reconciler, name);
    onNodesChanged();
    // New room may fit sandboxes still waiting for a node.
    for (const sandbox of caches.sandboxes.list() as Sandbox[]) {
      if (!reconciler.nodeOf(sandbox) && sandbox.status?.phase !== "Failed")
        queue.add(objectKey(sandbox as KubernetesObject));
    }
  };
  caches.nodes.on("add", (n) => onNode(n));
  caches.nodes.on("update", (n) => onNode(n));
  caches.nodes.on("delete", (n) => onNode(n, true));
}
