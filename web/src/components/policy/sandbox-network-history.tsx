"use client";
/**
 * The saved versions of a sandbox's own spec.network: who, when, why, the
 * diff, the request an approval came from, and restore (a new version).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CardHeader } from "~/components/form";
import { Card } from "~/components/page";
import {
  HistoryNotShown,
  RestoreMessage,
  useRestore,
  VersionEntry,
} from "~/components/policy/version-entry";
import { retryUnlessRefused } from "~/lib/policy-form";
import { useTRPC } from "~/trpc/react";

export function SandboxNetworkHistory({ namespace, name }: { namespace: string; name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const history = useQuery({
    ...trpc.sandboxNetwork.history.queryOptions({ namespace, name }),
    retry: retryUnlessRefused,
  });
  const restore = useMutation(trpc.sandboxNetwork.restore.mutationOptions());
  const { message, onRestore } = useRestore(async (changeId) => {
    await restore.mutateAsync({ namespace, name, changeId });
    await queryClient.invalidateQueries({ queryKey: trpc.sandboxNetwork.pathKey() });
    return "Restored as a new version.";
  });

  if (!history.data) return <HistoryNotShown error={history.error} />;
  const { versions, canEdit } = history.data;
  return (
    <Card>
      <CardHeader
        title="History of this sandbox's own rules"
        description="Every version saved from the dashboard, newest first."
      />
      <div className="divide-y divide-slate-100" data-testid="network-history">
        {message ? (
          <div className="px-5 py-3">
            <RestoreMessage message={message} />
          </div>
        ) : null}
        {versions.length === 0 ? (
          <p className="px-5 py-6 text-sm text-slate-500">
            No version of these rules was saved from the dashboard yet.
          </p>
        ) : null}
        {versions.map((v, i) => (
          <VersionEntry
            key={v.id}
            version={v}
            index={i}
            testPrefix="network-"
            latestLabel="latest"
            canRestore={canEdit}
            restoring={restore.isPending}
            onRestore={onRestore}
          />
        ))}
      </div>
    </Card>
  );
}
