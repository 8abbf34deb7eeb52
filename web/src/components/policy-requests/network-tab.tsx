"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import type { ReactNode } from "react";
import { Alert, CardHeader } from "~/components/form";
import { SandboxNetworkEditor } from "~/components/policy/sandbox-network-editor";
import { SandboxNetworkHistory } from "~/components/policy/sandbox-network-history";
import { Card } from "~/components/policy-requests/card";
import { useTRPC } from "~/trpc/react";
import { ReportModeRollout } from "./report-mode-rollout";

type Origin = "policy" | "template" | "inline" | "default";

const ORIGIN_TONES: Record<Origin, string> = {
  policy: "bg-indigo-50 text-indigo-700 ring-indigo-600/20",
  template: "bg-sky-50 text-sky-700 ring-sky-600/20",
  inline: "bg-amber-50 text-amber-800 ring-amber-600/20",
  default: "bg-slate-100 text-slate-600 ring-slate-500/20",
};

export function OriginBadge({ origin }: { origin: Origin }) {
  return (
    <span
      data-origin={origin}
      className={`inline-flex rounded-md px-1.5 py-0.5 text-xs font-medium ring-1 ring-inset ${ORIGIN_TONES[origin]}`}
    >
      {origin}
    </span>
  );
}

function Rule({
  label,
  field,
  origin,
  children,
}: {
  label: string;
  field: string;
  origin: Origin;
  children: ReactNode;
}) {
  return (
    <div className="px-5 py-3" data-rule={field}>
      <div className="flex items-center justify-between gap-2">
        <dt className="text-sm font-medium text-slate-500">{label}</dt>
        <dd>
          <OriginBadge origin={origin} />
        </dd>
      </div>
      <dd className="mt-1 text-sm break-words text-slate-900">{children}</dd>
    </div>
  );
}

const list = (items: readonly string[] | undefined, none: string) =>
  items?.length ? (
    <span className="flex flex-wrap gap-1">
      {items.map((item) => (
        <span key={item} className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs">
          {item}
        </span>
      ))}
    </span>
  ) : (
    <span className="text-slate-400">{none}</span>
  );

/**
 * A sandbox's Network tab: the editor of its own spec.network (policyRef and
 * inline rules) beside the effective egress policy (its SandboxPolicy,
 * template and inline rules merged as the operator merges them, each rule
 * with its origin; secrets by name and hosts), which refreshes after a
 * save; then the history of its own rules. In report mode, the rollout of
 * its policy's would-deny hosts follows.
 */
export function NetworkTab({ namespace, name }: { namespace: string; name: string }) {
  return (
    <div className="space-y-6">
      <div className="grid items-start gap-6 xl:grid-cols-3">
        <div className="xl:col-span-2">
          <SandboxNetworkEditor namespace={namespace} name={name} />
        </div>
        <div>
          <EffectivePolicy namespace={namespace} name={name} />
        </div>
      </div>
      <SandboxNetworkHistory namespace={namespace} name={name} />
    </div>
  );
}

/** The effective egress policy with each rule's origin (read-only), and the report-mode rollout. */
function EffectivePolicy({ namespace, name }: { namespace: string; name: string }) {
  const trpc = useTRPC();
  const effective = useQuery(trpc.sandboxNetwork.effective.queryOptions({ namespace, name }));
  if (effective.error) return <Alert>{effective.error.message}</Alert>;
  const data = effective.data;
  if (!data) return <p className="text-sm text-slate-500">Loading…</p>;
  const { rules, origins } = data;
  return (
    <div className="space-y-6">
      {data.problems.length ? (
        <Alert tone="warning" title="Some layers could not be read">
          {data.problems.join("; ")}
        </Alert>
      ) : null}
      <Card testId="effective-policy">
        <CardHeader
          title="Effective egress policy"
          description={
            <>
              What the operator enforces:{" "}
              {data.policyName ? (
                <>
                  SandboxPolicy <span className="font-mono">{data.policyName}</span>
                </>
              ) : (
                "no SandboxPolicy"
              )}
              {data.templateName ? (
                <>
                  , template <span className="font-mono">{data.templateName}</span>
                </>
              ) : null}
              , then this sandbox's inline rules; each rule shows where it comes from.
            </>
          }
        />
        <dl className="divide-y divide-slate-100">
          <Rule label="Mode" field="mode" origin={origins.mode}>
            <span className="font-mono">{rules.mode}</span>
          </Rule>
          <Rule label="Allowed hosts" field="allowedHosts" origin={origins.allowedHosts}>
            {list(rules.allowedHosts, "none (default-deny)")}
          </Rule>
          <Rule label="Denied methods" field="deniedMethods" origin={origins.deniedMethods}>
            {list(rules.deniedMethods, "none")}
          </Rule>
          <Rule label="Denied CIDRs" field="deniedCIDRs" origin={origins.deniedCIDRs}>
            {list(rules.deniedCIDRs, "none")}
          </Rule>
          <Rule
            label="Block internal ranges"
            field="blockInternalRanges"
            origin={origins.blockInternalRanges}
          >
            {String(rules.blockInternalRanges ?? true)}
          </Rule>
          <Rule label="DNS" field="dns" origin={origins.dns}>
            <span className="font-mono">{rules.dns?.mode ?? "synthetic"}</span>
          </Rule>
          <Rule label="WebSockets" field="websockets" origin={origins.websockets}>
            {String(rules.websockets ?? false)}
          </Rule>
        </dl>
        <div className="border-t border-slate-200 px-5 py-3">
          <h3 className="text-sm font-medium text-slate-500">Secrets</h3>
          {rules.secrets.length ? (
            <ul className="mt-2 space-y-1" data-testid="effective-secrets">
              {rules.secrets.map((secret) => (
                <li key={secret.name} className="flex items-center gap-2 text-sm">
                  <span className="font-mono">{secret.name}</span>
                  <span className="text-slate-500">→</span>
                  {list(secret.hosts, "no hosts")}
                  <OriginBadge origin={data.secretOrigins[secret.name] ?? "default"} />
                </li>
              ))}
            </ul>
          ) : (
            <p className="mt-1 text-sm text-slate-400">none</p>
          )}
        </div>
        <p className="border-t border-slate-200 px-5 py-3 text-xs text-slate-500">
          {data.policyName ? (
            <>
              Edit the policy on its{" "}
              <Link
                className="font-medium text-indigo-600 hover:text-indigo-500"
                href={`/policies/${namespace}/${data.policyName}`}
              >
                page
              </Link>
              ; this sandbox's inline rules beside.
            </>
          ) : (
            "Edit this sandbox's inline rules beside."
          )}
          {data.policyName && !data.allowSandboxOverrides
            ? " Its policy allows no overrides: inline rules may only tighten it."
            : ""}
        </p>
      </Card>
      {rules.mode === "report" && data.policyName ? (
        <ReportModeRollout namespace={namespace} policy={data.policyName} />
      ) : null}
    </div>
  );
}
