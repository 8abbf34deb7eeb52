"use client";

import { type ReactNode, useEffect, useRef } from "react";
import { XMarkIcon } from "~/components/action-icons";
import { AllowHostSection } from "~/components/policy-requests/allow-host";
import { formatTime } from "~/components/time";
import { type EgressRow, formatBytes, formatDuration } from "~/lib/audit.ts";
import { DecisionBadge, StatusCode } from "./decision-badge";

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-3 gap-3 py-2">
      <dt className="text-sm font-medium text-slate-500">{label}</dt>
      <dd className="col-span-2 text-sm break-all text-slate-900">{children}</dd>
    </div>
  );
}

const mono = (text: string) => <span className="font-mono text-[0.8125rem]">{text}</span>;

/**
 * Every field of one egress event, in a modal, with its policy side: who
 * allowed its host, its requests, and "Allow this host…" when it was denied.
 */
export function EventDetails({ row, onClose }: { row: EgressRow | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (row && !dialog.open) dialog.showModal();
    if (!row && dialog.open) dialog.close();
  }, [row]);
  return (
    <dialog
      ref={ref}
      aria-labelledby="event-title"
      data-testid="event-details"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      className="m-auto w-full max-w-2xl rounded-xl bg-white p-0 shadow-xl ring-1 ring-slate-200 backdrop:bg-slate-900/40"
    >
      {row ? (
        <div className="p-6">
          <div className="flex items-start justify-between gap-4">
            <div className="min-w-0">
              <h2 id="event-title" className="text-base font-semibold break-all text-slate-900">
                {row.method} {row.scheme}://{row.host}
                {(row.scheme === "https" && row.port !== 443) ||
                (row.scheme === "http" && row.port !== 80)
                  ? `:${row.port}`
                  : ""}
                {row.path}
              </h2>
              <p className="mt-1 flex items-center gap-2 text-sm text-slate-500">
                <DecisionBadge decision={row.decision} /> {formatTime(row.time)}
              </p>
            </div>
            <button
              type="button"
              onClick={onClose}
              aria-label="Close"
              className="rounded-md p-1 text-slate-400 hover:bg-slate-100 hover:text-slate-600"
            >
              <XMarkIcon className="size-5" />
            </button>
          </div>
          <dl className="mt-4 divide-y divide-slate-100 border-t border-slate-100">
            <Field label="Time (UTC)">{mono(row.time)}</Field>
            <Field label="Decision">
              <DecisionBadge decision={row.decision} />
            </Field>
            <Field label="Reason">{row.reason}</Field>
            <Field label="Policy">
              {row.policy ?? <span className="text-slate-400">inline rules only</span>}
            </Field>
            <Field label="Sandbox">
              <span className="block">
                {row.namespace}/{row.sandbox}
              </span>
              <span className="block text-slate-500">{mono(`uid ${row.sandboxUid}`)}</span>
            </Field>
            <Field label="Team">{row.team ?? <span className="text-slate-400">none</span>}</Field>
            <Field label="Node">{mono(row.node)}</Field>
            <Field label="Request">
              {mono(`${row.method} ${row.scheme} ${row.host}:${row.port} ${row.path}`)}
            </Field>
            <Field label="Status">
              <StatusCode status={row.status} />
              {row.status === null ? " no answer" : null}
            </Field>
            <Field label="Secrets injected">
              {row.secrets.length ? (
                <span className="flex flex-wrap gap-1">
                  {row.secrets.map((name) => (
                    <span
                      key={name}
                      className="rounded bg-indigo-50 px-1.5 py-0.5 font-mono text-xs text-indigo-700"
                    >
                      {name}
                    </span>
                  ))}
                </span>
              ) : (
                <span className="text-slate-400">none</span>
              )}
            </Field>
            <Field label="Bytes sent / received">
              {formatBytes(row.bytesSent)} / {formatBytes(row.bytesReceived)}
            </Field>
            <Field label="Duration">{formatDuration(row.durationMs)}</Field>
            <Field label="Received (UTC)">{mono(row.receivedAt)}</Field>
            <Field label="Event id">{mono(`${row.id} · seq ${row.seq}`)}</Field>
          </dl>
          <AllowHostSection key={row.id} row={row} />
        </div>
      ) : null}
    </dialog>
  );
}
