"use client";
/**
 * The saved versions of a sandbox's own spec.network: who, when, why, the
 * diff, the request an approval came from, and restore (a new version).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Alert, Button, CardHeader } from "~/components/form";
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

export function SandboxNetworkHistory({ namespace, name }: { namespace: string; name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const history = useQuery({
    ...trpc.sandboxNetwork.history.queryOptions({ namespace, name }),
    retry: retryUnlessRefused,
  });
  const restore = useMutation(trpc.sandboxNetwork.restore.mutationOptions());
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
      await restore.mutateAsync({ namespace, name, changeId: id });
      setMessage({ ok: true, text: "Restored as a new version." });
      await queryClient.invalidateQueries({ queryKey: trpc.sandboxNetwork.pathKey() });
    } catch (error) {
      setMessage({ ok: false, text: (error as Error).message });
    }
  };
  return (
    <Card>
      <CardHeader
        title="History of this sandbox's own rules"
        description="Every version saved from the dashboard, newest first."
      />
      <div className="divide-y divide-slate-100" data-testid="network-history">
        {message ? (
          <div className="px-5 py-3">
            {message.ok ? (
              <div
                className="rounded-md bg-emerald-50 p-3 text-sm text-emerald-800"
                data-testid="restored"
              >
                {message.text}
              </div>
            ) : (
              <Alert title="Not restored">{message.text}</Alert>
            )}
          </div>
        ) : null}
        {versions.length === 0 ? (
          <p className="px-5 py-6 text-sm text-slate-500">
            No version of these rules was saved from the dashboard yet.
          </p>
        ) : null}
        {versions.map((v, i) => (
          <div
            key={v.id}
            className="space-y-3 px-5 py-4"
            data-testid={`network-version-${i}`}
            data-action={v.action}
          >
            <div className="flex flex-wrap items-center justify-between gap-2">
              <div className="flex flex-wrap items-center gap-2 text-sm">
                <Badge tone={TONES[v.action] ?? "slate"}>{v.action}</Badge>
                <span className="font-medium text-slate-900" data-testid="version-user">
                  {v.userEmail}
                </span>
                <time className="text-slate-500" dateTime={new Date(v.createdAt).toISOString()}>
                  {new Date(v.createdAt).toLocaleString()}
                </time>
                {i === 0 ? <Badge tone="green">latest</Badge> : null}
              </div>
              {canEdit && v.restorable && i > 0 ? (
                <Button
                  tone="secondary"
                  size="sm"
                  data-testid={`network-restore-${i}`}
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
            <DiffView diff={v.diff} testId={`network-version-diff-${i}`} />
          </div>
        ))}
      </div>
    </Card>
  );
}
