"use client";

import { useSuspenseQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useMemo, useReducer, useState } from "react";
import { ServerIcon } from "~/components/icons";
import { LiveIndicator } from "~/components/live";
import { Card, Code, EmptyState } from "~/components/page";
import { Age, useElapsed } from "~/components/time";
import type { NodeListEvent, NodeRow } from "~/lib/nodes.ts";
import { useTRPC } from "~/trpc/react";

/** A heartbeat older than this is worth a warning (agents beat every few seconds). */
const STALE_HEARTBEAT_MS = 60_000;

function reduce(rows: Map<string, NodeRow>, { data }: { id: string; data: NodeListEvent }) {
  const next = new Map(rows);
  switch (data.type) {
    case "snapshot":
      return new Map(data.rows.map((row) => [row.name, row]));
    case "upsert":
      next.set(data.row.name, data.row);
      return next;
    case "remove":
      next.delete(data.name);
      return next;
    case "counts":
      for (const [name, row] of next)
        if (row.sandboxes !== (data.counts[name] ?? 0))
          next.set(name, { ...row, sandboxes: data.counts[name] ?? 0 });
      return next;
  }
}

export function NodesTable() {
  const trpc = useTRPC();
  const { data } = useSuspenseQuery(
    trpc.nodes.list.queryOptions(undefined, {
      staleTime: Number.POSITIVE_INFINITY,
      refetchOnWindowFocus: false,
    }),
  );
  const [rows, dispatch] = useReducer(
    reduce,
    data.rows,
    (initial) => new Map(initial.map((row) => [row.name, row])),
  );
  const [since] = useState(data.cursor);
  const subscription = useSubscription(
    trpc.nodes.watch.subscriptionOptions({ lastEventId: since }, { onData: dispatch }),
  );
  const sorted = useMemo(
    () => [...rows.values()].sort((a, b) => a.name.localeCompare(b.name)),
    [rows],
  );
  const ready = sorted.filter((row) => row.ready === "True").length;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <p className="text-sm text-slate-500" data-testid="node-count">
          {sorted.length} {sorted.length === 1 ? "node" : "nodes"} · {ready} ready
        </p>
        <div className="ml-auto">
          <LiveIndicator status={subscription.status} />
        </div>
      </div>
      <Card className="overflow-hidden">
        {sorted.length === 0 ? (
          <EmptyState icon={<ServerIcon />} title="No nodes registered">
            <p>
              Node agents register themselves as <Code>SandboxNode</Code> resources when they start;
              sandboxes stay Pending until one is Ready.
            </p>
          </EmptyState>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm" data-testid="nodes-table">
              <thead className="border-b border-slate-200 bg-slate-50/60 text-xs font-medium tracking-wide whitespace-nowrap text-slate-500 uppercase">
                <tr>
                  <th className="px-4 py-3">Node</th>
                  <th className="px-4 py-3">Status</th>
                  <th className="px-4 py-3">Accelerator</th>
                  <th
                    className="px-4 py-3"
                    title="What can be placed on the node; its capacity below when vCPUs are over-committed"
                  >
                    Allocatable
                  </th>
                  <th className="px-4 py-3 text-right">Sandboxes</th>
                  <th className="px-4 py-3">Heartbeat</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {sorted.map((row) => (
                  <Row key={row.name} row={row} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {!data.admin ? (
        <p className="text-xs text-slate-500">
          Agent addresses, versions and other teams' sandboxes are shown to platform admins only.
        </p>
      ) : null}
    </div>
  );
}

function Status({ row }: { row: NodeRow }) {
  const tone =
    row.ready === "True"
      ? "bg-emerald-50 text-emerald-700 ring-emerald-600/20"
      : row.ready === "False"
        ? "bg-red-50 text-red-700 ring-red-600/20"
        : "bg-slate-50 text-slate-600 ring-slate-500/20";
  const label = row.ready === "True" ? "Ready" : row.ready === "False" ? "NotReady" : "Unknown";
  return (
    <div className="flex flex-wrap items-center gap-1.5">
      <span
        data-testid="node-ready"
        title={[row.readyReason, row.readyMessage].filter(Boolean).join(": ") || undefined}
        className={`inline-flex items-center gap-1.5 rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${tone}`}
      >
        <span
          className={`size-1.5 rounded-full ${row.ready === "True" ? "bg-emerald-500" : row.ready === "False" ? "bg-red-500" : "bg-slate-400"}`}
        />
        {label}
      </span>
      {row.unschedulable ? (
        <span className="rounded-md bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-amber-600/20 ring-inset">
          Cordoned
        </span>
      ) : null}
      {row.deleting ? (
        <span className="rounded-md bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600">
          Leaving
        </span>
      ) : null}
    </div>
  );
}

/** What can be placed on a node, and its capacity when that differs (over-committed vCPUs). */
function Allocation({ row }: { row: NodeRow }) {
  const { allocatable, capacity } = row;
  if (!allocatable && !capacity) return <span className="text-slate-400">—</span>;
  const shown = allocatable ?? capacity;
  const differs =
    allocatable &&
    capacity &&
    (allocatable.cpus !== capacity.cpus ||
      allocatable.memory !== capacity.memory ||
      allocatable.vms !== capacity.vms);
  return (
    <div className="whitespace-nowrap tabular-nums" data-testid="node-allocatable">
      <p className="text-slate-900">
        {shown?.cpus} vCPU · {shown?.memory} · {shown?.vms} VMs
      </p>
      {differs ? (
        <p className="text-xs text-slate-500">
          capacity {capacity.cpus} cores · {capacity.memory} · {capacity.vms} VMs
        </p>
      ) : null}
    </div>
  );
}

function Row({ row }: { row: NodeRow }) {
  const stale = useElapsed(row.heartbeat, STALE_HEARTBEAT_MS);
  return (
    <tr data-testid="node-row" data-name={row.name} className="hover:bg-slate-50/80">
      <td className="px-4 py-3">
        <p className="font-mono text-xs font-medium whitespace-nowrap text-slate-900">{row.name}</p>
        {row.address ? (
          <p className="mt-0.5 max-w-44 truncate text-xs text-slate-500" title={row.address}>
            {row.address}
            {row.agentVersion ? ` · ${row.agentVersion}` : ""}
          </p>
        ) : null}
      </td>
      <td className="px-4 py-3">
        <Status row={row} />
      </td>
      <td className="px-4 py-3">
        {row.accelerator ? (
          <span
            className={`rounded-md px-2 py-0.5 font-mono text-xs font-medium uppercase ring-1 ring-inset ${row.accelerator === "kvm" ? "bg-indigo-50 text-indigo-700 ring-indigo-600/20" : "bg-slate-50 text-slate-600 ring-slate-500/20"}`}
            title={
              row.accelerator === "tcg"
                ? "Software emulation: slow boots"
                : "Hardware virtualization"
            }
          >
            {row.accelerator}
          </span>
        ) : (
          <span className="text-slate-400">—</span>
        )}
      </td>
      <td className="px-4 py-3">
        <Allocation row={row} />
      </td>
      <td className="px-4 py-3 text-right tabular-nums" data-testid="node-sandboxes">
        {row.sandboxes > 0 ? (
          <Link
            href={`/sandboxes?node=${encodeURIComponent(row.name)}`}
            className="font-medium text-indigo-600 hover:text-indigo-500"
          >
            {row.sandboxes}
          </Link>
        ) : (
          <span className="text-slate-400">0</span>
        )}
      </td>
      <td
        className={`px-4 py-3 whitespace-nowrap ${stale ? "font-medium text-amber-700" : "text-slate-500"}`}
        data-testid="heartbeat"
      >
        <Age since={row.heartbeat} suffix=" ago" />
      </td>
    </tr>
  );
}
