"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Alert, Button, CardHeader, Select } from "~/components/form";
import { Card } from "~/components/policy-requests/card";
import { formatTime } from "~/components/time";
import { formErrors } from "~/lib/form-errors.ts";
import { useTRPC } from "~/trpc/react";

type Range = "1h" | "6h" | "24h" | "7d" | "30d";
const MAX_ADD_ALL = 100;

/**
 * Report-mode rollout for one SandboxPolicy: the hosts that would have been
 * denied under it over a range (from the egress audit), with counts and
 * first/last seen. "Add" allows a host now for admins and the team's owners
 * (recorded as an approved request, applied as them), and sends a request
 * for everyone else; "Add all" does it for each listed host in turn.
 */
export function ReportModeRollout({ namespace, policy }: { namespace: string; policy: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [range, setRange] = useState<Range>("7d");
  const hosts = useQuery(trpc.policyRequests.rollout.queryOptions({ namespace, policy, range }));
  const decider = useQuery(trpc.policyRequests.canDecide.queryOptions({ namespace }));
  const [done, setDone] = useState<Record<string, string>>({});
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.policyRequests.pathKey() });
  const allow = useMutation(trpc.policyRequests.allowNow.mutationOptions());
  const request = useMutation(trpc.policyRequests.create.mutationOptions());
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const canAllow = decider.data === true;

  const add = async (row: { host: string; eventId: string; eventTime: Date }) => {
    const input = {
      eventId: row.eventId,
      eventTime: row.eventTime.toISOString(),
      host: row.host,
      reason: `report-mode rollout of ${policy}`,
    };
    if (canAllow) {
      await allow.mutateAsync(input);
      setDone((d) => ({ ...d, [row.host]: "added" }));
    } else {
      const { duplicate } = await request.mutateAsync(input);
      setDone((d) => ({ ...d, [row.host]: duplicate ? "already requested" : "requested" }));
    }
  };
  const run = async (rows: { host: string; eventId: string; eventTime: Date }[]) => {
    setBusy(true);
    setError(null);
    try {
      for (const row of rows.slice(0, MAX_ADD_ALL)) if (!done[row.host]) await add(row);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      await refresh();
    }
  };
  const rows = hosts.data ?? [];
  const message = error ? formErrors(error) : null;
  return (
    <Card testId="report-mode-rollout">
      <CardHeader
        title="Report-mode rollout"
        description={
          <>
            Hosts that would have been denied under <span className="font-mono">{policy}</span>.{" "}
            {canAllow
              ? "Add allows them now, as you."
              : "Add sends a request to an admin or the team's owner."}
          </>
        }
        actions={
          <>
            <Select
              aria-label="Range"
              value={range}
              onChange={(event) => setRange(event.target.value as Range)}
              className="w-28"
            >
              <option value="1h">1 hour</option>
              <option value="6h">6 hours</option>
              <option value="24h">24 hours</option>
              <option value="7d">7 days</option>
              <option value="30d">30 days</option>
            </Select>
            <Button disabled={busy || rows.length === 0} onClick={() => run(rows)}>
              {canAllow ? "Add all" : "Request all"}
            </Button>
          </>
        }
      />
      {message ? (
        <div className="px-5 pt-4">
          <Alert>{message.message ?? Object.values(message.fields).join("; ")}</Alert>
        </div>
      ) : null}
      {hosts.error ? (
        <div className="p-5">
          <Alert>{hosts.error.message}</Alert>
        </div>
      ) : !hosts.data ? (
        <p className="p-5 text-sm text-slate-500">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="p-5 text-sm text-slate-500">
          No would-deny requests in this range: enforcing would change nothing seen here.
        </p>
      ) : (
        <table className="w-full text-left text-sm" data-testid="rollout-hosts">
          <thead className="text-xs text-slate-500">
            <tr>
              <th className="px-5 py-2 font-medium">Host</th>
              <th className="px-3 py-2 font-medium">Requests</th>
              <th className="px-3 py-2 font-medium">Sandboxes</th>
              <th className="px-3 py-2 font-medium">First seen</th>
              <th className="px-3 py-2 font-medium">Last seen</th>
              <th className="px-5 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((row) => (
              <tr key={row.host} data-testid="rollout-host">
                <td className="px-5 py-2 font-mono">{row.host}</td>
                <td className="px-3 py-2 tabular-nums">{row.count}</td>
                <td className="px-3 py-2 tabular-nums">{row.sandboxes}</td>
                <td className="px-3 py-2">{formatTime(row.firstSeen.toISOString())}</td>
                <td className="px-3 py-2">{formatTime(row.lastSeen.toISOString())}</td>
                <td className="px-5 py-2 text-right">
                  {done[row.host] ? (
                    <span className="text-xs text-emerald-700">{done[row.host]}</span>
                  ) : (
                    <Button size="sm" tone="secondary" disabled={busy} onClick={() => run([row])}>
                      {canAllow ? "Add" : "Request"}
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
