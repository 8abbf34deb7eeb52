import { TRPCError } from "@trpc/server";
import type { Metadata } from "next";
import Link from "next/link";
import { PlusIcon } from "~/components/action-icons";
import { PageHeader } from "~/components/page";
import { filtersFromQuery, pageFromQuery } from "~/lib/sandboxes.ts";
import { getServerSession } from "~/server/auth";
import { getQueryClient, HydrateClient, trpc } from "~/trpc/server";
import { Unavailable } from "./_components/unavailable";
import { SandboxesTable } from "./sandboxes-table";

export const metadata: Metadata = { title: "Sandboxes" };

/**
 * The sandbox list: the first snapshot is fetched here, on the server (from
 * the dashboard's informer cache, so it is quick), and rendered into the
 * HTML; the client component then keeps it live.
 */
export default async function SandboxesPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const [session, query] = await Promise.all([getServerSession(), searchParams]);
  let unavailable: string | undefined;
  try {
    await getQueryClient().fetchQuery(trpc.sandboxes.list.queryOptions());
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    unavailable = error.message;
  }
  const teams = session?.teams ?? [];
  return (
    <HydrateClient>
      <div className="space-y-6">
        <PageHeader
          title="Sandboxes"
          description={
            <span data-testid="signed-in-as">
              {session?.isAdmin
                ? "Every sandbox in the cluster: you are a platform admin"
                : teams.length
                  ? `Sandboxes of your teams: ${teams.join(", ")}`
                  : "You are in no team yet, so there are no sandboxes to show"}
              <span className="sr-only"> · Signed in as {session?.user.email}</span>
            </span>
          }
          actions={
            <Link
              href="/sandboxes/new"
              className="inline-flex items-center gap-1.5 rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-xs hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
            >
              <PlusIcon className="size-4" />
              New sandbox
            </Link>
          }
        />
        {unavailable ? (
          <Unavailable title="Sandboxes are unavailable" message={unavailable} retry="/sandboxes" />
        ) : (
          <SandboxesTable
            initialFilters={filtersFromQuery(query)}
            initialPage={pageFromQuery(query)}
            isAdmin={session?.isAdmin ?? false}
          />
        )}
      </div>
    </HydrateClient>
  );
}
