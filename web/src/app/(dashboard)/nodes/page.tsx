import { TRPCError } from "@trpc/server";
import type { Metadata } from "next";
import { PageHeader } from "~/components/page";
import { getServerSession } from "~/server/auth";
import { getQueryClient, HydrateClient, trpc } from "~/trpc/server";
import { Unavailable } from "../sandboxes/_components/unavailable";
import { NodesTable } from "./nodes-table";

export const metadata: Metadata = { title: "Nodes" };

/** SandboxNodes from the dashboard's informers, rendered here first and then kept live. */
export default async function NodesPage() {
  const session = await getServerSession();
  let unavailable: string | undefined;
  try {
    await getQueryClient().fetchQuery(trpc.nodes.list.queryOptions());
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    unavailable = error.message.replace(/^Sandboxes cannot be listed/, "Nodes cannot be listed");
  }
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
        {unavailable ? (
          <Unavailable title="Nodes are unavailable" message={unavailable} retry="/nodes" />
        ) : (
          <NodesTable />
        )}
      </div>
    </HydrateClient>
  );
}
