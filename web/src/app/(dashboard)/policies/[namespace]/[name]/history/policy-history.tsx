"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Card } from "~/components/page";
import {
  HistoryNotShown,
  RestoreMessage,
  useRestore,
  VersionEntry,
} from "~/components/policy/version-entry";
import { retryUnlessRefused } from "~/lib/policy-form";
import { useTRPC } from "~/trpc/react";

export function PolicyHistory({ namespace, name }: { namespace: string; name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const history = useQuery({
    ...trpc.policies.history.queryOptions({ namespace, name }),
    retry: retryUnlessRefused,
  });
  const restore = useMutation(trpc.policies.restore.mutationOptions());
  const { message, onRestore } = useRestore(async (changeId) => {
    const result = await restore.mutateAsync({ changeId });
    await queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() });
    return `Restored as version ${result.resourceVersion}.`;
  });

  if (!history.data) return <HistoryNotShown error={history.error} />;
  const { versions, canEdit } = history.data;
  return (
    <div className="space-y-4" data-testid="policy-history">
      <RestoreMessage message={message} />
      {versions.length === 0 ? (
        <Card>
          <p className="px-5 py-6 text-sm text-slate-500">
            No version of this policy was saved from the dashboard yet.
          </p>
        </Card>
      ) : null}
      {versions.map((v, i) => (
        <Card key={v.id}>
          <VersionEntry
            version={v}
            index={i}
            testPrefix=""
            latestLabel="current"
            canRestore={canEdit}
            restoring={restore.isPending}
            onRestore={onRestore}
          />
        </Card>
      ))}
    </div>
  );
}
