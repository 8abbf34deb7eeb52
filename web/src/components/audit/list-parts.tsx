"use client";
/**
 * What the Egress and Sessions views share around their own columns: the
 * team/namespace/sandbox filters (left out on a sandbox's own tab), the
 * export links for the current filter, and the list's card with its
 * loading, error and empty states and "load older".
 */
import type { ReactNode } from "react";
import { DownloadIcon } from "~/components/action-icons";
import { Card } from "~/components/page";
import { filterToQuery } from "~/lib/audit.ts";
import { buttonClass, TextFilter } from "./controls";

type Place = { team?: string | undefined; namespace?: string | undefined; sandbox?: string };

/** Team, namespace and sandbox filters; none on a sandbox's own tab, which fixes them. */
export function PlaceFilters({
  filter,
  scoped,
  errors,
  update,
}: {
  filter: Place;
  scoped: boolean;
  errors: Record<string, string>;
  update: (patch: Record<string, string>) => void;
}) {
  if (scoped) return null;
  return (
    <>
      <TextFilter
        label="Team"
        placeholder="Team"
        value={filter.team}
        error={errors.team}
        onCommit={(team) => update({ team })}
        className="w-28"
      />
      <TextFilter
        label="Namespace"
        placeholder="Namespace"
        value={filter.namespace}
        error={errors.namespace}
        onCommit={(namespace) => update({ namespace })}
        className="w-32"
      />
      <TextFilter
        label="Sandbox"
        placeholder="Sandbox"
        value={filter.sandbox}
        error={errors.sandbox}
        onCommit={(sandbox) => update({ sandbox })}
        className="w-32"
      />
    </>
  );
}

/** CSV and NDJSON downloads of exactly what the filter lists (test ids `<testPrefix>export-csv`, …). */
export function ExportLinks({
  kind,
  filter,
  testPrefix,
}: {
  kind: "egress" | "sessions";
  filter: Record<string, unknown>;
  testPrefix: string;
}) {
  const query = filterToQuery(filter);
  const href = (format: string) =>
    `/api/audit/export?kind=${kind}&format=${format}${query ? `&${query}` : ""}`;
  return (
    <>
      <a
        href={href("csv")}
        download
        className={buttonClass}
        data-testid={`${testPrefix}export-csv`}
      >
        <DownloadIcon className="size-4" />
        CSV
      </a>
      <a
        href={href("ndjson")}
        download
        className={buttonClass}
        data-testid={`${testPrefix}export-ndjson`}
      >
        <DownloadIcon className="size-4" />
        NDJSON
      </a>
    </>
  );
}

/** The list's card: the error, "loading", the empty state, or the table. */
export function ListCard({
  list,
  loading,
  empty,
  children,
}: {
  list: { error: { message: string } | null; isPending: boolean };
  loading: string;
  /** Shown instead of the table when there are no rows (null when there are). */
  empty: ReactNode;
  children: ReactNode;
}) {
  return (
    <Card className="overflow-hidden">
      {list.error ? (
        <p role="alert" className="p-4 text-sm text-red-700">
          {list.error.message}
        </p>
      ) : list.isPending ? (
        <p className="p-6 text-sm text-slate-500">{loading}</p>
      ) : (
        (empty ?? <div className="overflow-x-auto">{children}</div>)
      )}
    </Card>
  );
}

/** The button that loads the next (older) page, while there is one. */
export function LoadOlder({
  list,
  label,
}: {
  list: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown };
  label: string;
}) {
  if (!list.hasNextPage) return null;
  return (
    <button
      type="button"
      className={buttonClass}
      disabled={list.isFetchingNextPage}
      onClick={() => void list.fetchNextPage()}
    >
      {list.isFetchingNextPage ? "Loading…" : label}
    </button>
  );
}
