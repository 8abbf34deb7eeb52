import type { Metadata } from "next";
import { PageHeader } from "~/components/page";
import { HydrateClient, prefetch, trpc } from "~/trpc/server";
import { ProfileDetails } from "./profile-details";
import { SshKeys } from "./ssh-keys";

export const metadata: Metadata = { title: "Profile" };

/** Prefetched on the server, rendered by a client component through tRPC. */
export default function ProfilePage() {
  prefetch(trpc.me.get.queryOptions());
  prefetch(trpc.me.teams.queryOptions());
  prefetch(trpc.sshKeys.list.queryOptions());
  return (
    <HydrateClient>
      <div className="space-y-8">
        <PageHeader
          title="Profile"
          description="Your account, the teams you belong to and your SSH keys."
        />
        <ProfileDetails />
        <SshKeys />
      </div>
    </HydrateClient>
  );
}
