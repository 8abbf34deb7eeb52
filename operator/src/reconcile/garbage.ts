import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { isReady } from "@turgon/api/crd";
import type { AgentClient } from "../agents/client.ts";
import type { Caches } from "../controller/caches.ts";
import type { Logger } from "../logger.ts";

/**
 * Removes VMs that no Sandbox wants on that node: left by a Sandbox deleted
 * while its finalizer was bypassed, or by a node that came back after its
 * sandboxes were rescheduled. Runs on the leader only, with synced caches.
 */
export async function collectOrphanVms(options: {
  caches: Caches;
  agents: AgentClient;
  log: Logger;
  nodeOf: (sandbox: Sandbox) => string | undefined;
}): Promise<number> {
  const { caches, agents, log } = options;
  // Built after each listing, so a VM created meanwhile is already in the cache.
  const placements = () =>
    new Map(
      (caches.sandboxes.list() as Sandbox[]).map((s) => [
        s.metadata.uid as string,
        options.nodeOf(s),
      ]),
    );
  let removed = 0;
  for (const node of caches.nodes.list() as SandboxNode[]) {
    if (!isReady(node)) continue;
    const name = node.metadata.name as string;
    let vms: Awaited<ReturnType<AgentClient["list"]>>;
    try {
      vms = await agents.list(node.spec.address);
    } catch (error) {
      log.warn({ node: name, err: error }, "could not list the agent's sandboxes");
      continue;
    }
    const placement = placements();
    for (const vm of vms) {
      if (placement.get(vm.uid) === name) continue;
      log.warn(
        { node: name, uid: vm.uid, sandbox: `${vm.namespace}/${vm.name}` },
        "removing a VM no Sandbox wants on this node",
      );
      await agents
        .delete(node.spec.address, vm.uid)
        .catch((error) => log.warn({ err: error }, "orphan removal failed"));
      removed += 1;
    }
  }
  return removed;
}
