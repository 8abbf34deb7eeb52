"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Alert } from "~/components/form";
import { Card } from "~/components/page";
import { RestoreMessage, VersionEntry } from "~/components/policy/version-entry";
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
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  if (history.isPending) return <p className="text-sm text-slate-500">Loading history…</p>;
  if (history.error)
    return (
      <Alert title="History cannot be shown">
        <span data-testid="history-error">{history.error.message}</span>
      </Alert>
    );
  const { versions, canEdit } = history.data;
  const onRestore = async (id: string) => {
    setMessage(null);
    try {
      const result = await restore.mutateAsync({ changeId: id });
      setMessage({ ok: true, text: `Restored as version ${result.resourceVersion}.` });
      await queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() });
    } catch (error) {
      setMessage({ ok: false, text: (error as Error).message });
    }
  };
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
