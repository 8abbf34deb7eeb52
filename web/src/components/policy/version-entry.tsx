"use client";

import { useState } from "react";
import { Alert, Button } from "~/components/form";
import { Badge } from "~/components/page";
import { DiffView } from "~/components/policy/diff-view";
import { RequestProvenance } from "~/components/policy-requests/provenance";
import type { HistoryVersion } from "~/server/policies/changes.ts";

const TONES: Record<string, "slate" | "indigo" | "green" | "amber"> = {
  create: "green",
  update: "indigo",
  restore: "amber",
  approve: "green",
  delete: "slate",
};

/**
 * One saved version of a policy's or a sandbox's rules: the action, who,
 * when, why, the hosts it allowed and removed, the request an approval came
 * from, the diff, and restore. `testPrefix` keeps each page's test ids.
 */
export function VersionEntry({
  version: v,
  index: i,
  testPrefix,
  latestLabel,
  canRestore,
  restoring,
  onRestore,
}: {
  version: Omit<HistoryVersion, "createdAt"> & { createdAt: Date | string };
  index: number;
  testPrefix: "" | "network-";
  latestLabel: string;
  canRestore: boolean;
  restoring: boolean;
  onRestore: (id: string) => void;
}) {
  return (
    <div
      className="space-y-3 px-5 py-4"
      data-testid={`${testPrefix}version-${i}`}
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
          {testPrefix === "" ? (
            <span className="text-slate-400">version {v.resourceVersion}</span>
          ) : null}
          {i === 0 ? <Badge tone="green">{latestLabel}</Badge> : null}
        </div>
        {canRestore && v.restorable && i > 0 ? (
          <Button
            tone="secondary"
            size="sm"
            data-testid={`${testPrefix}restore-${i}`}
            disabled={restoring}
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
      <DiffView diff={v.diff} testId={`${testPrefix}version-diff-${i}`} />
    </div>
  );
}

/** The outcome of the last restore. */
/** What a history view shows while its versions load, or why they cannot be shown. */
export function HistoryNotShown({ error }: { error: { message: string } | null }) {
  if (!error) return <p className="text-sm text-slate-500">Loading history…</p>;
  return (
    <Alert title="History cannot be shown">
      <span data-testid="history-error">{error.message}</span>
    </Alert>
  );
}

type RestoreOutcome = { ok: boolean; text: string } | null;

/**
 * Restore as both history views do it: `restore` writes the version (and
 * refreshes what shows it) and says what it made; its refusal becomes the
 * message instead.
 */
export function useRestore(restore: (changeId: string) => Promise<string>) {
  const [message, setMessage] = useState<RestoreOutcome>(null);
  const onRestore = async (changeId: string) => {
    setMessage(null);
    try {
      setMessage({ ok: true, text: await restore(changeId) });
    } catch (error) {
      setMessage({ ok: false, text: (error as Error).message });
    }
  };
  return { message, onRestore };
}

export function RestoreMessage({ message }: { message: RestoreOutcome }) {
  if (!message) return null;
  return message.ok ? (
    <div className="rounded-md bg-emerald-50 p-3 text-sm text-emerald-800" data-testid="restored">
      {message.text}
    </div>
  ) : (
    <Alert title="Not restored">{message.text}</Alert>
  );
}
