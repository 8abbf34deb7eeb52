"use client";

import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { Card } from "~/components/page";
import { formatShortTime, formatTime } from "~/components/time";
import type { AuditFilter } from "~/lib/audit.ts";
import type { HostCount } from "~/server/audit/query.ts";
import { useTRPC } from "~/trpc/react";

const SUMMARY_REFRESH_MS = 15_000;
const ARRIVAL_REFRESH_MS = 1_000;

export type SummaryPick =
  | { kind: "host"; host: string; decision: "allowed" | "denied" }
  | { kind: "window"; from: string; to: string };

function HostList({
  title,
  hosts,
  tone,
  testId,
  onPick,
}: {
  title: string;
  hosts: HostCount[] | undefined;
  tone: string;
  testId: string;
  onPick: (host: string) => void;
}) {
  const max = Math.max(1, ...(hosts ?? []).map((h) => h.count));
  return (
    <Card className="p-4">
      <h3 className="text-sm font-semibold text-slate-900">{title}</h3>
      <ul className="mt-3 space-y-1.5" data-testid={testId}>
        {hosts === undefined ? (
          <li className="text-sm text-slate-400">Loading…</li>
        ) : hosts.length === 0 ? (
          <li className="text-sm text-slate-400">None in this range</li>
        ) : (
          hosts.map((h) => (
            <li key={h.host}>
              <button
                type="button"
                onClick={() => onPick(h.host)}
                title={`Show ${h.host}`}
                className="group relative flex w-full items-center justify-between gap-2 overflow-hidden rounded px-2 py-1 text-left text-sm hover:ring-1 hover:ring-slate-300"
              >
                <span
                  className={`absolute inset-y-0 left-0 ${tone} opacity-60`}
                  style={{ width: `${(h.count / max) * 100}%` }}
                  aria-hidden="true"
                />
                <span className="relative truncate font-mono text-xs text-slate-800">{h.host}</span>
                <span className="relative text-xs font-medium text-slate-600 tabular-nums">
                  {h.count.toLocaleString("en")}
                </span>
              </button>
            </li>
          ))
        )}
      </ul>
    </Card>
  );
}

/**
 * Reads the summaries again a moment after new rows arrive, at most once per
 * ARRIVAL_REFRESH_MS, so the cards agree with the rows the tail just showed
 * without an aggregate query per row.
 */
function useRefreshAfterArrivals(arrivals: number, live: boolean, refetch: () => unknown): void {
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef(refetch);
  latest.current = refetch;
  useEffect(() => {
    // Paused, the cards hold still like the list: a refresh already due is dropped.
    if (!live) {
      clearTimeout(pending.current);
      pending.current = undefined;
      return;
    }
    if (arrivals === 0 || pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = undefined;
      latest.current();
    }, ARRIVAL_REFRESH_MS);
  }, [arrivals, live]);
  useEffect(() => () => clearTimeout(pending.current), []);
}

/** Top allowed hosts, top denied hosts and denied requests over time; each a click from the list. */
export function Summaries({
  filter,
  live,
  arrivals,
  onPick,
}: {
  filter: AuditFilter;
  /** While the list is live, the summaries are read again every 15 s (they are aggregates, not tailed). */
  live: boolean;
  /** How many rows the live tail has brought; a change reads the summaries again soon after. */
  arrivals: number;
  onPick: (pick: SummaryPick) => void;
}) {
  const trpc = useTRPC();
  const summary = useQuery(
    trpc.audit.summary.queryOptions(
      { filter },
      { refetchOnWindowFocus: false, refetchInterval: live ? SUMMARY_REFRESH_MS : false },
    ),
  );
  useRefreshAfterArrivals(arrivals, live, summary.refetch);
  const data = summary.data;
  const buckets = data?.deniedOverTime.buckets ?? [];
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  const bucketMs = data?.deniedOverTime.bucketMs ?? 0;
  return (
    <div className="grid gap-4 lg:grid-cols-3" data-testid="summaries">
      <HostList
        title="Top allowed hosts"
        hosts={data?.allowedHosts}
        tone="bg-emerald-100"
        testId="top-allowed"
        onPick={(host) => onPick({ kind: "host", host, decision: "allowed" })}
      />
      <HostList
        title="Top denied hosts"
        hosts={data?.deniedHosts}
        tone="bg-red-100"
        testId="top-denied"
        onPick={(host) => onPick({ kind: "host", host, decision: "denied" })}
      />
      <Card className="p-4">
        <div className="flex items-baseline justify-between">
          <h3 className="text-sm font-semibold text-slate-900">Denied over time</h3>
          <span className="text-xs text-slate-500" data-testid="denied-total">
            {data ? `${total.toLocaleString("en")} denied` : ""}
          </span>
        </div>
        {summary.error ? (
          <p className="mt-3 text-sm text-red-700">{summary.error.message}</p>
        ) : (
          <div
            className="mt-3 flex h-28 items-end gap-px border-b border-slate-200"
            data-testid="denied-chart"
          >
            {buckets.map((b) => {
              const end = new Date(Date.parse(b.start) + bucketMs).toISOString();
              return (
                <button
                  type="button"
                  key={b.start}
                  title={`${formatTime(b.start)}: ${b.count} denied`}
                  aria-label={`${b.count} denied from ${formatTime(b.start)}`}
                  disabled={b.count === 0}
                  onClick={() => onPick({ kind: "window", from: b.start, to: end })}
                  className="group flex h-full min-w-0 flex-1 items-end"
                >
                  <span
                    className="w-full rounded-t-sm bg-red-400 group-hover:bg-red-600"
                    style={{ height: b.count ? `${Math.max(4, (b.count / max) * 100)}%` : "0" }}
                  />
                </button>
              );
            })}
          </div>
        )}
        {data ? (
          <div className="mt-1 flex justify-between text-[0.6875rem] text-slate-400">
            <span>{formatShortTime(data.window.from)}</span>
            <span>{formatShortTime(data.window.to)}</span>
          </div>
        ) : null}
      </Card>
    </div>
  );
}
