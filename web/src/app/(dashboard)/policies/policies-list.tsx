"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { Alert, Button, Input } from "~/components/form";
import { ShieldIcon } from "~/components/icons";
import { Badge, Card, EmptyState } from "~/components/page";
import { useTRPC } from "~/trpc/react";

/** A new, empty (default-deny) policy in `namespace`; then its editor. */
function NewPolicy({ namespace }: { namespace: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = useMutation(trpc.policies.create.mutationOptions());
  if (!open)
    return (
      <Button
        tone="secondary"
        size="sm"
        data-testid={`new-policy-${namespace}`}
        onClick={() => setOpen(true)}
      >
        New policy
      </Button>
    );
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await create.mutateAsync({ namespace, name: name.trim(), spec: {} });
      router.push(`/policies/${namespace}/${name.trim()}`);
    } catch (e) {
      const data = (
        e as { data?: { zodError?: { fieldErrors?: Record<string, string[]> } | null } }
      ).data;
      setError(data?.zodError?.fieldErrors?.name?.join("; ") ?? (e as Error).message);
    }
  };
  return (
    <form onSubmit={submit} className="flex items-start gap-2">
      <div>
        <Input
          aria-label="New policy name"
          placeholder="name"
          value={name}
          autoFocus
          data-testid={`new-policy-name-${namespace}`}
          aria-invalid={error ? true : undefined}
          onChange={(e) => setName(e.target.value)}
        />
        {error ? (
          <p className="mt-1 text-xs text-red-600" data-testid={`new-policy-error-${namespace}`}>
            {error}
          </p>
        ) : null}
      </div>
      <Button type="submit" size="sm" disabled={create.isPending}>
        Create
      </Button>
    </form>
  );
}

export function PoliciesList() {
  const trpc = useTRPC();
  const { data, error, isPending } = useQuery(trpc.policies.list.queryOptions());
  if (isPending) return <p className="text-sm text-slate-500">Loading policies…</p>;
  if (error) return <Alert title="Policies cannot be listed">{error.message}</Alert>;
  if (data.namespaces.length === 0)
    return (
      <Card>
        <EmptyState icon={<ShieldIcon />} title="No namespaces">
          Your teams hold no namespaces yet; an admin binds them on the Teams page.
        </EmptyState>
      </Card>
    );
  return (
    <div className="space-y-6" data-testid="policies-list">
      {data.namespaces.map((ns) => (
        <Card key={ns.namespace}>
          <div className="flex items-center justify-between border-b border-slate-200 px-5 py-3">
            <h2 className="text-sm font-semibold text-slate-900">
              {ns.namespace}
              <span className="ml-2 font-normal text-slate-500">team {ns.team}</span>
            </h2>
            {ns.canCreate ? <NewPolicy namespace={ns.namespace} /> : null}
          </div>
          {ns.error ? (
            <p className="px-5 py-4 text-sm text-slate-500">{ns.error}</p>
          ) : ns.policies.length === 0 ? (
            <p className="px-5 py-4 text-sm text-slate-500">
              No SandboxPolicies in this namespace.
            </p>
          ) : (
            <table className="min-w-full divide-y divide-slate-200 text-sm">
              <thead>
                <tr className="text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                  <th className="px-5 py-2">Name</th>
                  <th className="px-5 py-2">Mode</th>
                  <th className="px-5 py-2">Allowed hosts</th>
                  <th className="px-5 py-2">Sandboxes</th>
                  <th className="px-5 py-2 text-right">History</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {ns.policies.map((p) => (
                  <tr key={p.name} data-testid={`policy-row-${p.namespace}-${p.name}`}>
                    <td className="px-5 py-2.5">
                      <Link
                        href={`/policies/${p.namespace}/${p.name}`}
                        className="font-medium text-indigo-600 hover:text-indigo-500"
                      >
                        {p.name}
                      </Link>
                    </td>
                    <td className="px-5 py-2.5" data-testid="policy-mode">
                      <Badge tone={p.mode === "report" ? "amber" : "green"}>{p.mode}</Badge>
                    </td>
                    <td className="px-5 py-2.5 text-slate-700">{p.allowedHosts}</td>
                    <td className="px-5 py-2.5 text-slate-700" data-testid="policy-sandboxes">
                      {p.sandboxes}
                    </td>
                    <td className="px-5 py-2.5 text-right">
                      <Link
                        href={`/policies/${p.namespace}/${p.name}/history`}
                        className="text-slate-500 hover:text-slate-700"
                      >
                        History
                      </Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      ))}
    </div>
  );
}
