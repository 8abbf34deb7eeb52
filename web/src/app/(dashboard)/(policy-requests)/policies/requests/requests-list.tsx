"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { Alert, Button, Select, Textarea } from "~/components/form";
import { ShieldIcon } from "~/components/icons";
import { Card, EmptyState } from "~/components/page";
import { RequestStatus } from "~/components/policy-requests/allow-host";
import { deniedEventHref } from "~/components/policy-requests/links";
import { formatTime } from "~/components/time";
import { formErrors } from "~/lib/form-errors.ts";
import type { RequestListItem } from "~/server/policy-requests/service.ts";
import { useTRPC } from "~/trpc/react";

type Status = "pending" | "approved" | "rejected" | "all";

export function RequestsList() {
  const trpc = useTRPC();
  const [status, setStatus] = useState<Status>("all");
  const list = useQuery(trpc.policyRequests.list.queryOptions({ status }));
  return (
    <Card>
      <div className="flex items-center justify-between gap-3 border-b border-slate-200 px-5 py-3">
        <h2 className="text-sm font-semibold text-slate-900">Requests</h2>
        <label htmlFor="request-status" className="flex items-center gap-2 text-sm text-slate-600">
          Show
          <Select
            id="request-status"
            value={status}
            onChange={(event) => setStatus(event.target.value as Status)}
            className="w-36"
          >
            <option value="all">all (pending first)</option>
            <option value="pending">pending</option>
            <option value="approved">approved</option>
            <option value="rejected">rejected</option>
          </Select>
        </label>
      </div>
      {list.error ? (
        <div className="p-5">
          <Alert>{list.error.message}</Alert>
        </div>
      ) : !list.data ? (
        <p className="p-5 text-sm text-slate-500">Loading…</p>
      ) : list.data.length === 0 ? (
        <EmptyState icon={<ShieldIcon />} title="No requests">
          Requests appear here when someone asks to allow a denied host from the audit page.
        </EmptyState>
      ) : (
        <ul className="divide-y divide-slate-100" data-testid="requests">
          {list.data.map((request) => (
            <RequestItem key={request.id} request={request} />
          ))}
        </ul>
      )}
    </Card>
  );
}

function RequestItem({ request }: { request: RequestListItem }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [note, setNote] = useState("");
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.policyRequests.pathKey() });
  const approve = useMutation(trpc.policyRequests.approve.mutationOptions({ onSuccess: refresh }));
  const reject = useMutation(trpc.policyRequests.reject.mutationOptions({ onSuccess: refresh }));
  const error = formErrors(approve.error ?? reject.error);
  const busy = approve.isPending || reject.isPending;
  return (
    <li
      id={`request-${request.id}`}
      data-testid="request"
      data-status={request.status}
      className="space-y-2 px-5 py-4 target:bg-indigo-50/50"
    >
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <RequestStatus status={request.status} />
        <span className="font-mono font-medium text-slate-900">{request.host}</span>
        <span className="text-slate-500">
          on {request.kind}{" "}
          <span className="font-mono">
            {request.namespace}/{request.name}
          </span>
        </span>
      </div>
      <p className="text-sm text-slate-600">
        Requested by <span className="font-medium">{request.requestedByEmail}</span> at{" "}
        {formatTime(request.createdAt.toISOString())}
        {request.eventId ? (
          <>
            {" · "}
            <Link className="text-indigo-700 underline" href={deniedEventHref(request)}>
              the denied event
            </Link>
          </>
        ) : null}
      </p>
      {request.reason ? (
        <p className="text-sm text-slate-700">
          <span className="text-slate-500">Reason:</span> {request.reason}
        </p>
      ) : null}
      {request.status !== "pending" ? (
        <p className="text-sm text-slate-600" data-testid="decision">
          {request.status === "approved" ? "Approved" : "Rejected"} by{" "}
          <span className="font-medium">{request.decidedByEmail}</span>
          {request.decidedAt ? <> at {formatTime(request.decidedAt.toISOString())}</> : null}
          {request.decisionNote ? <> · “{request.decisionNote}”</> : null}
          {request.changeId ? (
            <span className="text-slate-400"> · change {request.changeId.slice(0, 8)}</span>
          ) : null}
        </p>
      ) : request.canDecide ? (
        <div className="space-y-2">
          <Textarea
            aria-label={`Note for ${request.host}`}
            placeholder="Note (optional)"
            rows={1}
            value={note}
            onChange={(event) => setNote(event.target.value)}
          />
          {error.message ? <Alert>{error.message}</Alert> : null}
          <div className="flex gap-2">
            <Button
              disabled={busy}
              onClick={() => approve.mutate({ id: request.id, ...(note ? { note } : {}) })}
            >
              Approve
            </Button>
            <Button
              tone="danger"
              disabled={busy}
              onClick={() => reject.mutate({ id: request.id, ...(note ? { note } : {}) })}
            >
              Reject
            </Button>
          </div>
        </div>
      ) : (
        <p className="text-sm text-slate-500">Waiting for an admin or the team's owner.</p>
      )}
    </li>
  );
}
