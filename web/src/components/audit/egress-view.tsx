"use client";

import { skipToken, useInfiniteQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { memo, useEffect, useMemo, useState } from "react";
import { PauseIcon, PlayIcon, SearchIcon } from "~/components/action-icons";
import { ShieldIcon } from "~/components/icons";
import { LiveIndicator } from "~/components/live";
import { EmptyState } from "~/components/page";
import { formatShortTime } from "~/components/time";
import {
  AuditFilter,
  compareEgress,
  DECISIONS,
  DEFAULT_PAGE_SIZE,
  type EgressRow,
  FILTER_KEYS,
  formatDuration,
  STATUS_CLASSES,
} from "~/lib/audit.ts";
import { useTRPC } from "~/trpc/react";
import { buttonClass, FilterErrors, FilterSelect, TextFilter } from "./controls";
import { DecisionBadge, StatusCode } from "./decision-badge";
import { EventDetails } from "./event-details";
import { ExportLinks, ListCard, LoadOlder, PlaceFilters } from "./list-parts";
import { Summaries, type SummaryPick } from "./summaries";
import { TimeRange } from "./time-range";
import { FilterIssues, useAddressFilter } from "./use-address-filter";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT"];
/** Live rows kept in the browser beyond the loaded pages; the oldest go first. */
const MAX_LIVE_ROWS = 1_000;

/** What the live tail has added to the pages, since the pages' head. */
interface Tail {
  /** The pages (filter and head) this tail continues. */
  key: string;
  /** Where the running subscription started; moves only when it (re)starts. */
  since: string;
  lastSeq: string;
  rows: EgressRow[];
}

/**
 * The egress audit: filters (in the URL), summaries, the newest-first list
 * with keyset paging, and the live tail, which continues the first page's
 * snapshot (from its head seq) so no row is missed or shown twice. `scope`
 * fixes namespace and sandbox (a sandbox's Egress tab).
 */
export function EgressView({
  initialFilter,
  errors,
  scope,
}: {
  initialFilter: AuditFilter;
  errors: Record<string, string>;
  scope?: { namespace: string; sandbox: string };
}) {
  const trpc = useTRPC();
  const {
    filter,
    update,
    issues: filterError,
  } = useAddressFilter({ schema: AuditFilter, initial: initialFilter, keys: FILTER_KEYS, scope });

  const list = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions(
      { filter, limit: DEFAULT_PAGE_SIZE },
      {
        getNextPageParam: (last) => last.next ?? undefined,
        staleTime: Number.POSITIVE_INFINITY,
        refetchOnWindowFocus: false,
        refetchOnReconnect: false,
      },
    ),
  );
  const head = list.data?.pages[0]?.head ?? undefined;
  const pagesKey = `${JSON.stringify(filter)}@${head}`;

  const [paused, setPaused] = useState(false);
  const [tail, setTail] = useState<Tail | undefined>();
  // New pages (another filter, a refetch): the tail starts again from their head.
  if (head && tail?.key !== pagesKey)
    setTail({ key: pagesKey, since: head, lastSeq: head, rows: [] });
  const running = tail?.key === pagesKey && !paused;
  const subscription = useSubscription(
    trpc.audit.tail.subscriptionOptions(
      running && tail ? { filter, lastEventId: tail.since } : skipToken,
      {
        onData: ({ id, data }) =>
          setTail((current) => {
            if (!current || current.key !== pagesKey) return current;
            if (current.rows.some((row) => row.id === data.id)) return current;
            const rows = [data, ...current.rows].slice(0, MAX_LIVE_ROWS);
            return { ...current, lastSeq: id, rows };
          }),
      },
    ),
  );
  const togglePause = () => {
    // Resuming starts a new subscription from the last row received: the backlog follows.
    if (paused) setTail((current) => current && { ...current, since: current.lastSeq });
    setPaused(!paused);
  };

  const rows = useMemo(() => {
    const seen = new Set<string>();
    const merged: EgressRow[] = [];
    for (const row of [...(tail?.rows ?? []), ...(list.data?.pages.flatMap((p) => p.rows) ?? [])])
      if (!seen.has(row.id)) {
        seen.add(row.id);
        merged.push(row);
      }
    return merged.sort(compareEgress);
  }, [tail?.rows, list.data]);
  const liveIds = useMemo(() => new Set(tail?.rows.map((row) => row.id)), [tail?.rows]);

  const [selected, setSelected] = useState<EgressRow | null>(null);
  const onPick = (pick: SummaryPick) => {
    if (pick.kind === "host") update({ host: pick.host, decision: pick.decision });
    else update({ range: "custom", from: pick.from, to: pick.to, decision: "denied" });
  };
  const [interactive, setInteractive] = useState(false);
  useEffect(() => setInteractive(true), []);

  const fieldError = (key: string) => filterError[key];
  const filtered = FILTER_KEYS.some(
    (key) => key !== "range" && filter[key] !== undefined && !(scope && key in scope),
  );

  return (
    <div className="space-y-4" data-testid="egress-view" data-interactive={interactive}>
      <FilterErrors errors={errors} />
      <div className="flex flex-wrap items-center gap-2" data-testid="egress-filters">
        <TimeRange
          value={filter}
          onChange={(window) => update({ range: window.range, from: window.from, to: window.to })}
        />
        <PlaceFilters filter={filter} scoped={!!scope} errors={filterError} update={update} />
        <TextFilter
          label="Host"
          placeholder="Host or *.example.com"
          value={filter.host}
          error={fieldError("host")}
          onCommit={(host) => update({ host })}
          className="w-48"
        />
        <FilterSelect
          label="Method"
          allLabel="All methods"
          value={filter.method}
          values={METHODS}
          onChange={(method) => update({ method })}
        />
        <FilterSelect
          label="Decision"
          allLabel="All decisions"
          value={filter.decision}
          values={DECISIONS}
          onChange={(decision) => update({ decision })}
        />
        <FilterSelect
          label="Status"
          allLabel="All statuses"
          value={filter.status}
          values={STATUS_CLASSES}
          onChange={(status) => update({ status })}
        />
        <TextFilter
          label="Secret"
          placeholder="Secret name"
          value={filter.secret}
          error={fieldError("secret")}
          onCommit={(secret) => update({ secret })}
          className="w-32"
        />
        {filtered ? (
          <button
            type="button"
            onClick={() =>
              update({
                team: "",
                namespace: "",
                sandbox: "",
                host: "",
                method: "",
                decision: "",
                status: "",
                secret: "",
              })
            }
            className="text-sm font-medium text-indigo-600 hover:text-indigo-500"
          >
            Clear filters
          </button>
        ) : null}
      </div>
      <FilterIssues issues={filterError} />

      <Summaries filter={filter} live={!paused} arrivals={tail?.rows.length ?? 0} onPick={onPick} />

      <div className="flex flex-wrap items-center gap-3">
        <span className="text-sm text-slate-500" data-testid="event-count">
          {list.isPending
            ? "Loading…"
            : `${rows.length.toLocaleString("en")}${list.hasNextPage ? "+" : ""} ${rows.length === 1 && !list.hasNextPage ? "event" : "events"}`}
          {tail?.rows.length ? ` · ${tail.rows.length} new since loaded` : ""}
        </span>
        <div className="ml-auto flex items-center gap-2">
          <span data-testid="tail-state" data-paused={paused}>
            {paused ? (
              <span className="inline-flex items-center gap-1.5 rounded-full bg-white px-2.5 py-1 text-xs font-medium text-slate-600 ring-1 ring-slate-200">
                <span className="size-2 rounded-full bg-slate-400" />
                Paused
              </span>
            ) : (
              <LiveIndicator status={subscription.status} />
            )}
          </span>
          <button type="button" className={buttonClass} onClick={togglePause} disabled={!head}>
            {paused ? <PlayIcon className="size-4" /> : <PauseIcon className="size-4" />}
            {paused ? "Resume" : "Pause"}
          </button>
          <ExportLinks kind="egress" filter={filter} testPrefix="" />
        </div>
      </div>

      <ListCard
        list={list}
        loading="Loading events…"
        empty={
          rows.length === 0 ? (
            <EmptyState icon={filtered ? <SearchIcon /> : <ShieldIcon />} title="No egress events">
              <p>
                {filtered
                  ? "Nothing matches these filters in this time range."
                  : "No sandbox you can see made a request in this time range."}{" "}
                New events appear here as they arrive{paused ? " once you resume" : ""}.
              </p>
            </EmptyState>
          ) : null
        }
      >
        <table className="w-full text-left text-sm" data-testid="egress-table">
          <thead className="border-b border-slate-200 bg-slate-50/60 text-xs font-medium tracking-wide text-slate-500 uppercase">
            <tr>
              <th className="px-4 py-3">Time</th>
              {scope ? null : <th className="px-4 py-3">Sandbox</th>}
              <th className="px-4 py-3">Request</th>
              <th className="px-4 py-3">Status</th>
              <th className="px-4 py-3">Decision</th>
              <th className="px-4 py-3 text-right">Duration</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((row) => (
              <Row
                key={row.id}
                row={row}
                live={liveIds.has(row.id)}
                scoped={!!scope}
                onOpen={setSelected}
              />
            ))}
          </tbody>
        </table>
        <div className="flex items-center justify-between border-t border-slate-200 px-4 py-3 text-sm">
          <p className="text-slate-500">
            Newest first{list.hasNextPage ? "" : " · the end of this range"}
          </p>
          <LoadOlder list={list} label="Load older events" />
        </div>
      </ListCard>
      <EventDetails row={selected} onClose={() => setSelected(null)} />
    </div>
  );
}

const Row = memo(function Row({
  row,
  live,
  scoped,
  onOpen,
}: {
  row: EgressRow;
  live: boolean;
  scoped: boolean;
  onOpen: (row: EgressRow) => void;
}) {
  return (
    <tr
      className={`cursor-pointer hover:bg-slate-50/80 ${live ? "bg-indigo-50/40" : ""}`}
      data-testid="egress-row"
      data-id={row.id}
      data-decision={row.decision}
      data-live={live}
      onClick={() => onOpen(row)}
    >
      <td className="px-4 py-2.5 whitespace-nowrap text-slate-600">
        <time dateTime={row.time} title={row.time} suppressHydrationWarning>
          {formatShortTime(row.time)}
        </time>
      </td>
      {scoped ? null : (
        <td className="px-4 py-2.5 whitespace-nowrap">
          <p className="text-slate-900">{row.sandbox}</p>
          <p className="text-xs text-slate-500" title={row.team ? `team ${row.team}` : "no team"}>
            {row.namespace}
          </p>
        </td>
      )}
      <td className="max-w-md px-4 py-2.5">
        <button
          type="button"
          className="block max-w-full truncate text-left"
          onClick={(event) => {
            event.stopPropagation();
            onOpen(row);
          }}
          title={`${row.method} ${row.scheme}://${row.host}:${row.port}${row.path}`}
        >
          <span className="mr-2 font-mono text-xs font-semibold text-slate-500">{row.method}</span>
          <span className="font-medium text-slate-900" data-testid="host">
            {row.host}
          </span>
          <span className="font-mono text-xs text-slate-500">{row.path}</span>
        </button>
        {row.secrets.length ? (
          <span className="mt-0.5 flex flex-wrap gap-1" title="Secrets injected (by name)">
            {row.secrets.map((name) => (
              <span
                key={name}
                className="rounded bg-indigo-50 px-1.5 py-0.5 font-mono text-[0.6875rem] text-indigo-700"
              >
                {name}
              </span>
            ))}
          </span>
        ) : null}
      </td>
      <td className="px-4 py-2.5">
        <StatusCode status={row.status} />
      </td>
      <td className="px-4 py-2.5 whitespace-nowrap" title={row.reason}>
        <DecisionBadge decision={row.decision} />
      </td>
      <td className="px-4 py-2.5 text-right whitespace-nowrap text-slate-500 tabular-nums">
        {formatDuration(row.durationMs)}
      </td>
    </tr>
  );
});
