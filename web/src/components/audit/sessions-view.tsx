"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import Link from "next/link";
import { TerminalIcon } from "~/components/icons";
import { EmptyState } from "~/components/page";
import { formatShortTime } from "~/components/time";
import {
  DEFAULT_PAGE_SIZE,
  formatDuration,
  SESSION_FILTER_KEYS,
  SESSION_KINDS,
  SessionFilter,
  type SessionRow,
  sessionDurationMs,
} from "~/lib/audit.ts";
import { useTRPC } from "~/trpc/react";
import { FilterErrors, FilterSelect } from "./controls";
import { ExportLinks, ListCard, LoadOlder, PlaceFilters } from "./list-parts";
import { TimeRange } from "./time-range";
import { FilterIssues, useAddressFilter } from "./use-address-filter";

/** Exec and SSH sessions: who, which sandbox, when, how long, the command and how it ended. */
export function SessionsView({
  initialFilter,
  errors,
  scope,
}: {
  initialFilter: SessionFilter;
  errors: Record<string, string>;
  scope?: { namespace: string; sandbox: string };
}) {
  const trpc = useTRPC();
  const {
    filter,
    update,
    issues: filterError,
  } = useAddressFilter({
    schema: SessionFilter,
    initial: initialFilter,
    keys: SESSION_FILTER_KEYS,
    scope,
  });
  const list = useInfiniteQuery(
    trpc.audit.sessions.infiniteQueryOptions(
      { filter, limit: DEFAULT_PAGE_SIZE },
      { getNextPageParam: (last) => last.next ?? undefined, refetchOnWindowFocus: false },
    ),
  );
  const rows = list.data?.pages.flatMap((page) => page.rows) ?? [];

  return (
    <div className="space-y-4" data-testid="sessions-view">
      <FilterErrors errors={errors} />
      <div className="flex flex-wrap items-center gap-2">
        <TimeRange
          value={filter}
          onChange={(window) => update({ range: window.range, from: window.from, to: window.to })}
        />
        <PlaceFilters filter={filter} scoped={!!scope} errors={filterError} update={update} />
        <FilterSelect
          label="Kind"
          allLabel="Exec and SSH"
          value={filter.kind}
          values={SESSION_KINDS}
          onChange={(kind) => update({ kind })}
        />
        <div className="ml-auto flex items-center gap-2">
          <ExportLinks kind="sessions" filter={filter} testPrefix="sessions-" />
        </div>
      </div>
      <FilterIssues issues={filterError} />
      <ListCard
        list={list}
        loading="Loading sessions…"
        empty={
          rows.length === 0 ? (
            <EmptyState icon={<TerminalIcon />} title="No exec or SSH sessions">
              <p>Terminal, exec and SSH sessions that ended in this time range are listed here.</p>
            </EmptyState>
          ) : null
        }
      >
        <table className="w-full text-left text-sm" data-testid="sessions-table">
          <thead className="border-b border-slate-200 bg-slate-50/60 text-xs font-medium tracking-wide text-slate-500 uppercase">
            <tr>
              <th className="px-4 py-3">Started</th>
              <th className="px-4 py-3">Who</th>
              {scope ? null : <th className="px-4 py-3">Sandbox</th>}
              <th className="px-4 py-3">Command</th>
              <th className="px-4 py-3 text-right">Duration</th>
              <th className="px-4 py-3">Exit</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((row) => (
              <SessionLine key={row.id} row={row} scoped={!!scope} />
            ))}
          </tbody>
        </table>
        {list.hasNextPage ? (
          <div className="flex justify-end border-t border-slate-200 px-4 py-3">
            <LoadOlder list={list} label="Load older sessions" />
          </div>
        ) : null}
      </ListCard>
    </div>
  );
}

function SessionLine({ row, scoped }: { row: SessionRow; scoped: boolean }) {
  return (
    <tr data-testid="session-row" data-id={row.id}>
      <td className="px-4 py-2.5 whitespace-nowrap text-slate-600">
        <time dateTime={row.startedAt} title={row.startedAt}>
          {formatShortTime(row.startedAt)}
        </time>
      </td>
      <td className="px-4 py-2.5 whitespace-nowrap">
        <p className="text-slate-900">{row.user}</p>
        <p className="text-xs text-slate-500">
          {row.kind}
          {row.tty ? " · terminal" : ""}
        </p>
      </td>
      {scoped ? null : (
        <td className="px-4 py-2.5 whitespace-nowrap">
          <Link
            href={`/sandboxes/${row.namespace}/${row.sandbox}`}
            className="text-slate-900 hover:text-indigo-600"
          >
            {row.sandbox}
          </Link>
          <p className="text-xs text-slate-500">{row.namespace}</p>
        </td>
      )}
      <td className="max-w-md px-4 py-2.5">
        {row.command.length ? (
          <code
            className="block truncate font-mono text-xs text-slate-800"
            title={row.command.join(" ")}
          >
            {row.command.join(" ")}
          </code>
        ) : (
          <span className="text-slate-500 italic">interactive shell</span>
        )}
      </td>
      <td className="px-4 py-2.5 text-right whitespace-nowrap text-slate-500 tabular-nums">
        {formatDuration(sessionDurationMs(row))}
      </td>
      <td className="px-4 py-2.5" title={row.reason}>
        {row.exitCode === null ? (
          <span className="text-xs text-slate-500">no exit code: {row.reason}</span>
        ) : (
          <span
            className={`font-mono text-xs ${row.exitCode === 0 ? "text-emerald-700" : "text-red-700"}`}
          >
            {row.exitCode}
          </span>
        )}
      </td>
    </tr>
  );
}
