import type { Metadata } from "next";
import { forbidden } from "next/navigation";
import { getServerSession } from "~/server/auth";
import { HydrateClient, prefetch, trpc } from "~/trpc/server";
import { TeamsManager } from "./teams-manager";

export const metadata: Metadata = { title: "Teams" };

/** Platform admins manage teams and users; everyone else is refused (the nav hides the link too). */
export default async function TeamsPage() {
  const session = await getServerSession();
  if (!session?.isAdmin) forbidden();
  prefetch(trpc.teams.list.queryOptions());
  prefetch(trpc.users.list.queryOptions());
  return (
    <HydrateClient>
      <TeamsManager currentUserId={session.user.id} />
    </HydrateClient>
  );
}
