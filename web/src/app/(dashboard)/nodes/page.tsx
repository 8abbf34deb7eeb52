import type { Metadata } from "next";
import { PageHeader } from "~/components/page";
import { getServerSession } from "~/server/auth";
import { getQueryClient, HydrateClient, trpc } from "~/trpc/server";
import { NodesTable } from "./nodes-table";

export const metadata: Metadata = { title: "Nodes" };

/** SandboxNodes from the dashboard's informers, rendered here first and then kept live. */
export default async function NodesPage() {
  const session = await getServerSession();
  await getQueryClient().prefetchQuery(trpc.nodes.list.queryOptions());
  return (
    <HydrateClient>
      <div className="space-y-6">
        <PageHeader
          title="Nodes"
          description={
            session?.isAdmin
              ? "KVM hosts whose node agents run the sandboxes: readiness, capacity, allocation and heartbeat."
              : "The hosts your sandboxes run on, read-only. Sandbox counts are of your teams' sandboxes."
          }
        />
        <NodesTable />
      </div>
    </HydrateClient>
  );
}
