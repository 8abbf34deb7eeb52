"use client";

import { useSuspenseQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import {
  memo,
  useCallback,
  useDeferredValue,
  useEffect,
  useMemo,
  useReducer,
  useState,
} from "react";
import { ExternalLinkIcon, PlusIcon, SearchIcon, TrashIcon } from "~/components/action-icons";
import { CubeIcon } from "~/components/icons";
import { LiveIndicator } from "~/components/live";
import { Card, Code, EmptyState } from "~/components/page";
import { Age } from "~/components/time";
import {
  applyEvent,
  DISPLAY_PHASES,
  FILTER_KEYS,
  initialRows,
  matchesFilters,
  PAGE_SIZE,
  type SandboxFilters,
  type SandboxRow,
} from "~/lib/sandboxes.ts";
import { useTRPC } from "~/trpc/react";
import { DeleteSandboxDialog, type DeleteTarget } from "./_components/delete-sandbox";
import { PhaseBadge } from "./_components/phase-badge";

const selectClass =
  "block max-w-40 rounded-md bg-white py-1.5 pr-8 pl-3 text-sm text-slate-900 outline-1 -outline-offset-1 outline-slate-300 focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600";

/** Writes filters and page into the address bar without a navigation (Next keeps useSearchParams in step). */
function writeQuery(filters: SandboxFilters, page: number): void {
  const url = new URL(window.location.href);
  for (const key of FILTER_KEYS) {
    const value = filters[key];
    if (value) url.searchParams.set(key, value);
    else url.searchParams.delete(key);
  }
  if (page > 1) url.searchParams.set("page", String(page));
  else url.searchParams.delete("page");
  window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}`);
}

/**
 * Every sandbox the user may see, kept live by `sandboxes.watch` (SSE),
 * starting right after the server-rendered snapshot's cursor. Filters live
 * in the URL query and apply here, to rows already in the browser.
 */
export function SandboxesTable({
  initialFilters,
  initialPage,
  isAdmin,
}: {
  initialFilters: SandboxFilters;
  initialPage: number;
  isAdmin: boolean;
}) {
  const trpc = useTRPC();
  // The subscription, not a refetch, keeps this current: a refetched
  // snapshot would race the changes already applied.
  const { data } = useSuspenseQuery(
    trpc.sandboxes.list.queryOptions(undefined, {
      staleTime: Number.POSITIVE_INFINITY,
      refetchOnWindowFocus: false,
      refetchOnReconnect: false,
    }),
  );
  const [live, dispatch] = useReducer(applyEvent, data, initialRows);
  // Where the subscription starts; the link resumes from the last event id on reconnects.
  const [since] = useState(data.cursor);
  const subscription = useSubscription(
    trpc.sandboxes.watch.subscriptionOptions({ lastEventId: since }, { onData: dispatch }),
  );

  const [filters, setFilters] = useState<SandboxFilters>(initialFilters);
  const [page, setPage] = useState(initialPage);
  // Other filters, other rows: back to the first page.
  const update = useCallback((patch: Partial<SandboxFilters>) => {
    setFilters((current) => {
      const next = { ...current, ...patch };
      for (const key of FILTER_KEYS) if (!next[key]) delete next[key];
      writeQuery(next, 1);
      return next;
    });
    setPage(1);
  }, []);
  const deferredFilters = useDeferredValue(filters);

  const all = useMemo(
    () => [...live.rows.values()].sort((a, b) => a.key.localeCompare(b.key)),
    [live.rows],
  );
  const matching = useMemo(
    () => all.filter((row) => matchesFilters(row, deferredFilters)),
    [all, deferredFilters],
  );
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  // Rows may go while one looks at the last page: stay on a page that exists.
  const current = Math.min(page, pages);
  const shown = useMemo(
    () => matching.slice((current - 1) * PAGE_SIZE, current * PAGE_SIZE),
    [matching, current],
  );
  const goTo = (next: number) => {
    setPage(next);
    writeQuery(filters, next);
  };
  const options = useMemo(() => {
    const namespaces = new Set<string>();
    const teams = new Set<string>();
    const nodes = new Set<string>();
    for (const row of all) {
      namespaces.add(row.namespace);
      teams.add(row.team);
      if (row.node) nodes.add(row.node);
    }
    // A filter from the URL stays selectable even when nothing matches it now.
    if (filters.namespace) namespaces.add(filters.namespace);
    if (filters.team) teams.add(filters.team);
    if (filters.node) nodes.add(filters.node);
    const sorted = (set: Set<string>) => [...set].sort();
    return { namespaces: sorted(namespaces), teams: sorted(teams), nodes: sorted(nodes) };
  }, [all, filters.namespace, filters.team, filters.node]);
  const filtered = FILTER_KEYS.some((key) => filters[key]);
  // Marks the table hydrated (its handlers attached), for tests and the benchmark.
  const [interactive, setInteractive] = useState(false);
  useEffect(() => setInteractive(true), []);
  // One dialog for the table; rows only say which sandbox.
  const [deleting, setDeleting] = useState<DeleteTarget | null>(null);
  const onDelete = useCallback((row: SandboxRow) => setDeleting(row), []);

  return (
    <div className="space-y-4" data-testid="sandboxes" data-interactive={interactive}>
      <div className="flex flex-wrap items-center gap-3">
        <div className="relative w-full sm:w-56">
          <SearchIcon className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-slate-400" />
          <input
            type="search"
            aria-label="Search by name"
            placeholder="Search by name"
            value={filters.q ?? ""}
            onChange={(event) => update({ q: event.target.value })}
            className="block w-full rounded-md bg-white py-1.5 pr-3 pl-8 text-sm text-slate-900 outline-1 -outline-offset-1 outline-slate-300 placeholder:text-slate-400 focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600"
          />
        </div>
        <FilterSelect
          label="Namespace"
          value={filters.namespace}
          values={options.namespaces}
          onChange={(namespace) => update({ namespace })}
        />
        {isAdmin || options.teams.length > 1 ? (
          <FilterSelect
            label="Team"
            value={filters.team}
            values={options.teams}
            onChange={(team) => update({ team })}
          />
        ) : null}
        <FilterSelect
          label="Phase"
          value={filters.phase}
          values={[...DISPLAY_PHASES]}
          onChange={(phase) => update({ phase: phase as SandboxFilters["phase"] })}
        />
        {options.nodes.length > 0 ? (
          <FilterSelect
            label="Node"
            value={filters.node}
            values={options.nodes}
            onChange={(node) => update({ node })}
          />
        ) : null}
        {filtered ? (
          <button
            type="button"
            onClick={() => update({ namespace: "", team: "", phase: undefined, node: "", q: "" })}
            className="text-sm font-medium text-indigo-600 hover:text-indigo-500"
          >
            Clear filters
          </button>
        ) : null}
        <div className="ml-auto flex items-center gap-3">
          <span className="text-sm text-slate-500" data-testid="sandbox-count">
            {filtered && all.length > 0 ? `${matching.length} of ${all.length}` : all.length}{" "}
            {all.length === 1 ? "sandbox" : "sandboxes"}
          </span>
          <LiveIndicator status={subscription.status} />
        </div>
      </div>

      <Card className="overflow-hidden">
        {all.length === 0 ? (
          <EmptyState icon={<CubeIcon />} title="No sandboxes yet">
            <p>
              Create one here, or with <Code>kubectl apply -f examples/</Code>: it appears in this
              list as soon as the API server has it.
            </p>
            <Link
              href="/sandboxes/new"
              className="mt-4 inline-flex items-center gap-1.5 rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-xs hover:bg-indigo-500"
            >
              <PlusIcon className="size-4" />
              New sandbox
            </Link>
          </EmptyState>
        ) : matching.length === 0 ? (
          <EmptyState icon={<SearchIcon />} title="No sandboxes match these filters">
            <p>{all.length} sandboxes are hidden by the filters above.</p>
          </EmptyState>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm" data-testid="sandboxes-table">
              <thead className="border-b border-slate-200 bg-slate-50/60 text-xs font-medium tracking-wide text-slate-500 uppercase">
                <tr>
                  <th className="px-4 py-3">Name</th>
                  <th className="px-4 py-3">Namespace</th>
                  <th className="px-4 py-3">Phase</th>
                  <th className="px-4 py-3">Node</th>
                  <th className="px-4 py-3">URL</th>
                  <th className="px-4 py-3">Age</th>
                  <th className="px-3 py-3">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {shown.map((row) => (
                  <Row key={row.key} row={row} onDelete={onDelete} />
                ))}
              </tbody>
            </table>
            {pages > 1 ? (
              <nav
                aria-label="Pages"
                className="flex items-center justify-between border-t border-slate-200 px-4 py-3 text-sm"
              >
                <p className="text-slate-500" data-testid="page-range">
                  {(current - 1) * PAGE_SIZE + 1}–{Math.min(current * PAGE_SIZE, matching.length)}{" "}
                  of {matching.length}
                </p>
                <div className="flex items-center gap-2">
                  <span className="text-slate-500">
                    Page {current} of {pages}
                  </span>
                  <button
                    type="button"
                    disabled={current <= 1}
                    onClick={() => goTo(current - 1)}
                    className="rounded-md bg-white px-2.5 py-1.5 font-medium text-slate-700 ring-1 ring-slate-300 ring-inset hover:bg-slate-50 disabled:opacity-40"
                  >
                    Previous
                  </button>
                  <button
                    type="button"
                    disabled={current >= pages}
                    onClick={() => goTo(current + 1)}
                    className="rounded-md bg-white px-2.5 py-1.5 font-medium text-slate-700 ring-1 ring-slate-300 ring-inset hover:bg-slate-50 disabled:opacity-40"
                  >
                    Next
                  </button>
                </div>
              </nav>
            ) : null}
          </div>
        )}
      </Card>
      <DeleteSandboxDialog target={deleting} onClose={() => setDeleting(null)} />
    </div>
  );
}

function FilterSelect({
  label,
  value,
  values,
  onChange,
}: {
  label: string;
  value: string | undefined;
  values: string[];
  onChange: (value: string) => void;
}) {
  return (
    <select
      aria-label={label}
      value={value ?? ""}
      onChange={(event) => onChange(event.target.value)}
      className={`${selectClass} ${value ? "text-indigo-700 outline-indigo-300" : ""}`}
    >
      <option value="">{`All ${label === "Phase" ? "phases" : `${label.toLowerCase()}s`}`}</option>
      {values.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </select>
  );
}

/** One sandbox; memoized, so a change re-renders only its own row. */
const Row = memo(function Row({
  row,
  onDelete,
}: {
  row: SandboxRow;
  onDelete: (row: SandboxRow) => void;
}) {
  const href = `/sandboxes/${row.namespace}/${row.name}`;
  return (
    <tr className="group hover:bg-slate-50/80" data-testid="sandbox-row" data-key={row.key}>
      <td className="px-4 py-3 whitespace-nowrap">
        <Link href={href} className="font-medium text-slate-900 hover:text-indigo-600">
          {row.name}
        </Link>
      </td>
      <td className="px-4 py-3 whitespace-nowrap">
        <p className="text-slate-700">{row.namespace}</p>
        {row.team !== row.namespace ? (
          <p className="text-xs text-slate-500">team {row.team}</p>
        ) : null}
      </td>
      <td className="px-4 py-3 whitespace-nowrap">
        <PhaseBadge phase={row.phase} title={row.reason} />
        {row.operatingMode === "Suspended" && row.phase !== "Suspended" ? (
          <span className="ml-2 text-xs text-slate-500">suspending</span>
        ) : null}
      </td>
      <td
        className="px-4 py-3 font-mono text-xs whitespace-nowrap text-slate-600"
        data-testid="node"
      >
        {row.node ?? <span className="font-sans text-slate-400">—</span>}
      </td>
      <td className="px-4 py-3">
        {row.url ? (
          <a
            href={row.url}
            target="_blank"
            rel="noreferrer"
            title={row.url}
            className="inline-flex max-w-56 items-center gap-1 text-indigo-600 hover:text-indigo-500"
            data-testid="url"
          >
            <span className="truncate">
              {row.url.replace(/^https?:\/\//, "").replace(/\/$/, "")}
            </span>
            <ExternalLinkIcon className="size-3.5 shrink-0" />
          </a>
        ) : (
          <span className="text-slate-400">—</span>
        )}
      </td>
      <td className="px-4 py-3 whitespace-nowrap text-slate-500">
        <Age since={row.createdAt} />
      </td>
      <td className="px-3 py-3 text-right">
        {row.phase === "Terminating" ? null : (
          <button
            type="button"
            onClick={() => onDelete(row)}
            aria-label={`Delete ${row.key}`}
            title="Delete"
            className="rounded-md p-1.5 text-slate-400 opacity-60 group-hover:opacity-100 hover:bg-red-50 hover:text-red-600"
          >
            <TrashIcon className="size-4" />
          </button>
        )}
      </td>
    </tr>
  );
});
