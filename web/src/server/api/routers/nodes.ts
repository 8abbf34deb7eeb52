/**
 * SandboxNodes, from the dashboard's informers. Admins see every field and
 * every sandbox per node; members see the nodes read-only, without the
 * agent's address and version, and count only their teams' sandboxes (see
 * ~/lib/nodes.ts for why). Nobody writes nodes here: cordoning is the node
 * agent's and the operator's business.
 */
import { tracked } from "@trpc/server";
import type { Sandbox } from "@turgon/api/crd";
import { z } from "zod";
import { type NodeListEvent, nodeRowOf } from "~/lib/nodes.ts";
import { filterFor, type KubeCache, type Principal } from "~/server/kube/index.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";
import { cursorOf, kubeCache, principalOf, trackedId } from "./sandboxes.ts";

function countsOf(sandboxes: Sandbox[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const sandbox of sandboxes) {
    const node = sandbox.status?.nodeName;
    if (node) counts[node] = (counts[node] ?? 0) + 1;
  }
  return counts;
}

/** Sandboxes per node that `principal` may see. */
function visibleCounts(cache: KubeCache, principal: Principal): Record<string, number> {
  return countsOf(cache.snapshot(filterFor(principal)).sandboxes);
}

const sameCounts = (a: Record<string, number>, b: Record<string, number>) => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? 0) !== (b[key] ?? 0)) return false;
  return true;
};

export const nodesRouter = createTRPCRouter({
  /** Every SandboxNode, with the cursor to subscribe from. */
  list: protectedProcedure.query(async ({ ctx }) => {
    const cache = await kubeCache();
    const principal = principalOf(ctx.session);
    const all = cache.snapshot("all");
    const counts = principal.admin ? countsOf(all.sandboxes) : visibleCounts(cache, principal);
    return {
      cursor: trackedId(all.id, filterFor(principal)),
      admin: principal.admin,
      rows: all.nodes.map((node) =>
        nodeRowOf(node, counts[node.metadata.name as string] ?? 0, principal.admin),
      ),
    };
  }),

  /** Live changes of the nodes page over SSE, tracked and resumable like sandboxes.watch. */
  watch: protectedProcedure
    .input(z.object({ lastEventId: z.string().max(128).nullish() }).optional())
    .subscription(async function* ({ ctx, input, signal }) {
      const cache = await kubeCache();
      const principal = principalOf(ctx.session);
      // Nodes are only in the unfiltered stream; what a member sees of it is projected below.
      const scope = filterFor(principal);
      let counts = visibleCounts(cache, principal);
      const from = cursorOf(input?.lastEventId, scope);
      for await (const event of cache.stream(from, "all", signal ? { signal } : {})) {
        const id = trackedId(event.id, scope);
        let out: NodeListEvent | undefined;
        if (event.type === "snapshot") {
          counts = principal.admin ? countsOf(event.sandboxes) : visibleCounts(cache, principal);
          out = {
            type: "snapshot",
            rows: event.nodes.map((node) =>
              nodeRowOf(node, counts[node.metadata.name as string] ?? 0, principal.admin),
            ),
          };
        } else if (event.kind === "SandboxNode") {
          out =
            event.type === "deleted"
              ? { type: "remove", name: event.name }
              : {
                  type: "upsert",
                  row: nodeRowOf(event.object, counts[event.name] ?? 0, principal.admin),
                };
        } else {
          // A sandbox placed, moved or gone, or a namespace changing teams.
          const now = visibleCounts(cache, principal);
          if (!sameCounts(now, counts)) {
            counts = now;
            out = { type: "counts", counts };
          }
        }
        if (out) yield tracked(id, out);
      }
    }),
});
