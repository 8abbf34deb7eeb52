"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { type FormEvent, useState } from "react";
import { Alert, Button, Field, Input, Textarea } from "~/components/form";
import { formatTime } from "~/components/time";
import type { EgressRow } from "~/lib/audit.ts";
import { fieldMessage, formErrors } from "~/lib/form-errors.ts";
import { useTRPC } from "~/trpc/react";

/** `a.b.example.com` → `*.b.example.com`, the next wider wildcard (none for a two-label host). */
function widerPattern(host: string): string | null {
  const labels = host.split(".");
  return labels.length > 2 ? `*.${labels.slice(1).join(".")}` : null;
}

function StatusPill({ status }: { status: string }) {
  const tones: Record<string, string> = {
    pending: "bg-amber-50 text-amber-800 ring-amber-600/20",
    approved: "bg-emerald-50 text-emerald-700 ring-emerald-600/20",
    rejected: "bg-red-50 text-red-700 ring-red-600/20",
  };
  return (
    <span
      className={`inline-flex rounded-md px-1.5 py-0.5 text-xs font-medium ring-1 ring-inset ${tones[status] ?? ""}`}
    >
      {status}
    </span>
  );
}

export { StatusPill as RequestStatus };

/**
 * An audit row's policy side: the requests made from it, who allowed its
 * host and when (saved changes that added it, or a wildcard over it), and
 * for a denied or would-deny row "Allow this host…" (a request; owners and
 * admins may also allow it now).
 */
export function AllowHostSection({ row }: { row: EgressRow }) {
  const trpc = useTRPC();
  const key = { eventId: row.id, eventTime: row.time };
  const forEvent = useQuery(trpc.policyRequests.forEvent.queryOptions(key));
  const [open, setOpen] = useState(false);
  const requests = forEvent.data?.requests ?? [];
  const changes = forEvent.data?.changes ?? [];
  return (
    <div className="mt-4 space-y-3" data-testid="policy-section">
      {changes.length ? (
        <div className="rounded-md bg-emerald-50 p-3 text-sm text-emerald-900 ring-1 ring-emerald-600/20">
          <p className="font-medium">Who allowed this host</p>
          <ul className="mt-1 space-y-1" data-testid="allowed-by">
            {changes.map((change) => (
              <li key={change.id}>
                Allowed by <span className="font-medium">{change.userEmail}</span> at{" "}
                {formatTime(change.createdAt.toISOString())} ({change.action}{" "}
                <span className="font-mono">{change.addedHosts.join(", ")}</span> on {change.kind}{" "}
                <span className="font-mono">{change.name}</span>)
                {change.requestId ? (
                  <>
                    {" · "}
                    <Link
                      className="text-indigo-700 underline"
                      href={`/policies/requests?status=all#request-${change.requestId}`}
                    >
                      the request
                    </Link>
                  </>
                ) : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {requests.length ? (
        <ul className="space-y-1 text-sm text-slate-700" data-testid="event-requests">
          {requests.map((request) => (
            <li key={request.id} className="flex flex-wrap items-center gap-2">
              <StatusPill status={request.status} /> Request to allow{" "}
              <span className="font-mono">{request.host}</span> by {request.requestedByEmail}
              {request.decidedByEmail ? (
                <>
                  {" "}
                  · {request.status} by {request.decidedByEmail}
                </>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {row.decision !== "allowed" ? (
        open ? (
          <AllowHostForm row={row} onDone={() => setOpen(false)} />
        ) : (
          <div className="flex justify-end">
            <Button tone="secondary" onClick={() => setOpen(true)}>
              Allow this host…
            </Button>
          </div>
        )
      ) : null}
    </div>
  );
}

function AllowHostForm({ row, onDone }: { row: EgressRow; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [host, setHost] = useState(row.host);
  const [reason, setReason] = useState("");
  const decider = useQuery(
    trpc.policyRequests.canDecide.queryOptions({ namespace: row.namespace }),
  );
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.policyRequests.pathKey() });
  const create = useMutation(trpc.policyRequests.create.mutationOptions({ onSuccess: refresh }));
  const allow = useMutation(trpc.policyRequests.allowNow.mutationOptions({ onSuccess: refresh }));
  const error = create.error ?? allow.error;
  const errors = formErrors(error);
  const wider = widerPattern(row.host);
  const input = { eventId: row.id, eventTime: row.time, host, ...(reason ? { reason } : {}) };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    allow.reset();
    create.mutate(input);
  };
  const done = create.data ?? null;
  const target = row.policy ? (
    <>
      SandboxPolicy <span className="font-mono">{row.policy}</span> in {row.namespace}
    </>
  ) : (
    <>
      sandbox{" "}
      <span className="font-mono">
        {row.namespace}/{row.sandbox}
      </span>{" "}
      (its inline rules)
    </>
  );
  if (done || allow.data) {
    const request = allow.data ?? done?.request;
    return (
      <div
        role="status"
        data-testid="allow-host-done"
        className="rounded-md bg-indigo-50 p-3 text-sm text-indigo-900 ring-1 ring-indigo-600/20"
      >
        {allow.data ? (
          <p>
            Allowed <span className="font-mono">{allow.data.host}</span> on {target}: live now, no
            reboot.
          </p>
        ) : (
          <p>
            {done?.duplicate ? "A request for this host was already pending" : "Request sent"}:{" "}
            <span className="font-mono">{request?.host}</span> on {target}. An admin or the team's
            owner decides it on{" "}
            <Link className="underline" href="/policies/requests">
              Requests
            </Link>
            .
          </p>
        )}
      </div>
    );
  }
  return (
    <form
      onSubmit={onSubmit}
      aria-label="Allow this host"
      className="space-y-3 rounded-md p-3 ring-1 ring-slate-200"
    >
      <p className="text-sm text-slate-700">
        Adds the host to the allowed hosts of {target}, live, without a reboot.
        {row.policy
          ? null
          : " The sandbox has no SandboxPolicy, so the host goes into its own rules (spec.network), which only a team owner or an admin may approve."}
      </p>
      <Field
        id="allow-host"
        label="Host"
        error={fieldMessage("Host", errors.fields.host)}
        hint={
          wider && host !== wider ? (
            <>
              Or widen it:{" "}
              <button type="button" className="font-mono underline" onClick={() => setHost(wider)}>
                {wider}
              </button>
            </>
          ) : undefined
        }
      >
        <Input
          id="allow-host"
          value={host}
          onChange={(event) => setHost(event.target.value)}
          aria-invalid={errors.fields.host ? true : undefined}
        />
      </Field>
      <Field id="allow-reason" label="Reason (optional)" error={errors.fields.reason}>
        <Textarea
          id="allow-reason"
          rows={2}
          value={reason}
          onChange={(event) => setReason(event.target.value)}
        />
      </Field>
      {errors.message ? <Alert>{errors.message}</Alert> : null}
      <div className="flex justify-end gap-2">
        <Button tone="ghost" onClick={onDone}>
          Cancel
        </Button>
        {decider.data && row.policy ? (
          <Button
            tone="secondary"
            disabled={allow.isPending || create.isPending}
            onClick={() => {
              create.reset();
              allow.mutate(input);
            }}
          >
            Allow now
          </Button>
        ) : null}
        <Button type="submit" disabled={create.isPending || allow.isPending}>
          Request
        </Button>
      </div>
    </form>
  );
}
