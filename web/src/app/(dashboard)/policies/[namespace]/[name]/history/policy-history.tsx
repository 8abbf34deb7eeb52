"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Alert, Button } from "~/components/form";
import { Badge, Card } from "~/components/page";
import { DiffView } from "~/components/policy/diff-view";
import { RequestProvenance } from "~/components/policy-requests/provenance";
import { retryUnlessRefused } from "~/lib/policy-form";
import { useTRPC } from "~/trpc/react";

const TONES: Record<string, "slate" | "indigo" | "green" | "amber"> = {
  create: "green",
  update: "indigo",
  restore: "amber",
  approve: "green",
  delete: "slate",
};

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
      {message ? (
        message.ok ? (
          <div
            className="rounded-md bg-emerald-50 p-3 text-sm text-emerald-800"
            data-testid="restored"
          >
            {message.text}
          </div>
        ) : (
          <Alert title="Not restored">{message.text}</Alert>
        )
      ) : null}
      {versions.length === 0 ? (
        <Card>
          <p className="px-5 py-6 text-sm text-slate-500">
            No version of this policy was saved from the dashboard yet.
          </p>
        </Card>
      ) : null}
      {versions.map((v, i) => (
        <Card key={v.id}>
          <div className="space-y-3 px-5 py-4" data-testid={`version-${i}`} data-action={v.action}>
            <div className="flex flex-wrap items-center justify-between gap-2">
              <div className="flex flex-wrap items-center gap-2 text-sm">
                <Badge tone={TONES[v.action] ?? "slate"}>{v.action}</Badge>
                <span className="font-medium text-slate-900" data-testid="version-user">
                  {v.userEmail}
                </span>
                <time className="text-slate-500" dateTime={new Date(v.createdAt).toISOString()}>
                  {new Date(v.createdAt).toLocaleString()}
                </time>
                <span className="text-slate-400">version {v.resourceVersion}</span>
                {i === 0 ? <Badge tone="green">current</Badge> : null}
              </div>
              {canEdit && v.restorable && i > 0 ? (
                <Button
                  tone="secondary"
                  size="sm"
                  data-testid={`restore-${i}`}
                  disabled={restore.isPending}
                  onClick={() => onRestore(v.id)}
                >
                  Restore this version
                </Button>
              ) : null}
            </div>
            {v.reason ? (
              <p className="text-sm text-slate-700" data-testid="version-reason">
                “{v.reason}”
              </p>
            ) : null}
            {v.addedHosts.length || v.removedHosts.length ? (
              <p className="text-sm text-slate-600">
                {v.addedHosts.length ? <>Allowed {v.addedHosts.join(", ")}. </> : null}
                {v.removedHosts.length ? <>Removed {v.removedHosts.join(", ")}.</> : null}
              </p>
            ) : null}
            {v.restoredFrom ? (
              <p className="text-xs text-slate-500">Restored from an earlier version.</p>
            ) : null}
            {v.request ? <RequestProvenance request={v.request} /> : null}
            <DiffView diff={v.diff} testId={`version-diff-${i}`} />
          </div>
        </Card>
      ))}
    </div>
  );
}
