"use client";

import { useMutation, useQuery, useQueryClient, useSuspenseQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import type { Condition, Sandbox } from "@turgon/api/crd";
import Link from "next/link";
import { type ReactNode, useState } from "react";
import { CopyIcon, ExternalLinkIcon, PauseIcon, PlayIcon } from "~/components/action-icons";
import { EgressView } from "~/components/audit/egress-view";
import { SessionsView } from "~/components/audit/sessions-view";
import { AlertIcon, TerminalIcon } from "~/components/icons";
import { LiveIndicator } from "~/components/live";
import { Badge, Card, Code } from "~/components/page";
import { NetworkTab } from "~/components/policy-requests/network-tab";
import { Tabs, useAddressTab } from "~/components/tabs";
import { Age, formatTime } from "~/components/time";
import type { AuditFilter, QueryParse, SessionFilter } from "~/lib/audit.ts";
import { displayPhase } from "~/lib/sandboxes.ts";
import { useTRPC } from "~/trpc/react";
import { DeleteSandboxButton } from "../../_components/delete-sandbox";
import { PhaseBadge } from "../../_components/phase-badge";
import { TerminalSlot } from "./terminal-slot";

type Tab = "overview" | "terminal" | "network" | "egress" | "sessions";

const buttonClass =
  "inline-flex items-center gap-1.5 rounded-md bg-white px-3 py-2 text-sm font-semibold text-slate-900 shadow-xs ring-1 ring-slate-300 ring-inset hover:bg-slate-50 disabled:cursor-not-allowed disabled:opacity-50";

/**
 * One sandbox, live: the server read it as the user; `sandboxes.watchOne`
 * (SSE) then sends it again at each change, or null once it is gone.
 */
export function SandboxDetail({
  namespace,
  name,
  initialTab,
  audit,
}: {
  namespace: string;
  name: string;
  initialTab: Tab;
  /** The Egress and Sessions tabs' filters, from the page's URL query. */
  audit: {
    egress: QueryParse<AuditFilter>;
    sessions: QueryParse<SessionFilter>;
  };
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { data } = useSuspenseQuery(
    trpc.sandboxes.get.queryOptions(
      { namespace, name },
      { staleTime: Number.POSITIVE_INFINITY, refetchOnWindowFocus: false },
    ),
  );
  const uid = data.sandbox.metadata.uid ?? "";
  const eventsQuery = trpc.sandboxes.events.queryOptions(
    { namespace, name, ...(uid ? { uid } : {}) },
    // Events are not in the informers: refetched on each change of the sandbox, and every 5 s.
    { refetchInterval: 5_000 },
  );
  const events = useQuery(eventsQuery);
  const [live, setLive] = useState<{ sandbox: Sandbox | null; team: string } | undefined>();
  const subscription = useSubscription(
    trpc.sandboxes.watchOne.subscriptionOptions(
      { namespace, name },
      {
        onData: ({ data: next }) => {
          // A sandbox made again under this name is another object: this page stays with its own.
          setLive(
            next.sandbox && next.sandbox.metadata.uid !== uid ? { ...next, sandbox: null } : next,
          );
          void queryClient.invalidateQueries({ queryKey: eventsQuery.queryKey });
        },
      },
    ),
  );
  const sandbox = live === undefined ? data.sandbox : live.sandbox;
  const team = live?.team ?? data.team;
  const [tab, chooseTab] = useAddressTab<Tab>(initialTab, "overview");

  const setMode = useMutation(trpc.sandboxes.setOperatingMode.mutationOptions());
  const shown = sandbox ?? data.sandbox;
  const phase = sandbox ? displayPhase(sandbox) : "Terminating";
  const mode = shown.spec.operatingMode ?? "Running";
  const url = shown.status?.ingress?.url;

  return (
    <div className="space-y-6">
      <header className="flex flex-wrap items-start justify-between gap-4 border-b border-slate-200 pb-5">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-3">
            <h1 className="text-2xl font-semibold tracking-tight text-slate-900">{name}</h1>
            <PhaseBadge phase={phase} title={shown.status?.message} />
            <LiveIndicator status={subscription.status} />
          </div>
          <p className="mt-1 text-sm text-slate-500">
            Namespace <span className="font-medium text-slate-700">{namespace}</span>
            {" · "}team <span className="font-medium text-slate-700">{team}</span>
            {shown.status?.nodeName ? (
              <>
                {" · "}node{" "}
                <span className="font-mono text-slate-700">{shown.status.nodeName}</span>
              </>
            ) : null}
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          {url ? (
            <a
              href={url}
              target="_blank"
              rel="noreferrer"
              className="inline-flex items-center gap-1.5 rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-xs hover:bg-indigo-500"
            >
              <ExternalLinkIcon className="size-4" />
              Open
            </a>
          ) : null}
          <button type="button" className={buttonClass} onClick={() => chooseTab("terminal")}>
            <TerminalIcon className="size-4" />
            Terminal
          </button>
          <button
            type="button"
            className={buttonClass}
            disabled={!sandbox || setMode.isPending || phase === "Terminating"}
            onClick={() =>
              setMode.mutate({
                namespace,
                name,
                operatingMode: mode === "Suspended" ? "Running" : "Suspended",
              })
            }
          >
            {mode === "Suspended" ? (
              <>
                <PlayIcon className="size-4" />
                Resume
              </>
            ) : (
              <>
                <PauseIcon className="size-4" />
                Suspend
              </>
            )}
          </button>
          <DeleteSandboxButton target={{ namespace, name, uid }} disabled={!sandbox} />
        </div>
      </header>

      {setMode.error ? (
        <p role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-800">
          {setMode.error.message}
        </p>
      ) : null}
      {sandbox && phase === "Failed" ? (
        <div
          role="alert"
          className="flex gap-3 rounded-md bg-red-50 p-4 text-sm text-red-800 ring-1 ring-red-600/20"
        >
          <AlertIcon className="size-5 shrink-0 text-red-500" />
          <p>
            <span className="font-medium">This sandbox failed.</span>{" "}
            {shown.status?.message ?? "See its conditions and events below."}
          </p>
        </div>
      ) : null}
      {!sandbox ? (
        <div
          role="status"
          data-testid="deleted"
          className="rounded-md bg-amber-50 p-4 text-sm text-amber-900 ring-1 ring-amber-600/20"
        >
          This sandbox has been deleted.{" "}
          <Link href="/sandboxes" className="font-semibold underline">
            Back to sandboxes
          </Link>
        </div>
      ) : null}

      <Tabs
        label="Sandbox views"
        tabs={[
          ["overview", "Overview"],
          ["terminal", "Terminal"],
          ["network", "Network"],
          ["egress", "Egress"],
          ["sessions", "Sessions"],
        ]}
        current={tab}
        onChoose={chooseTab}
      />

      {tab === "terminal" ? (
        <TerminalSlot namespace={namespace} name={name} uid={uid} phase={phase} />
      ) : tab === "network" ? (
        <NetworkTab namespace={namespace} name={name} />
      ) : tab === "egress" ? (
        <EgressView
          initialFilter={audit.egress.filter}
          errors={audit.egress.errors}
          scope={{ namespace, sandbox: name }}
        />
      ) : tab === "sessions" ? (
        <SessionsView
          initialFilter={audit.sessions.filter}
          errors={audit.sessions.errors}
          scope={{ namespace, sandbox: name }}
        />
      ) : (
        <div className="grid gap-6 lg:grid-cols-3">
          <div className="space-y-6 lg:col-span-2">
            <Overview sandbox={shown} template={data.template} />
            <Conditions conditions={shown.status?.conditions ?? []} />
            <Events
              events={events.data ?? []}
              loading={events.isPending}
              error={events.error?.message}
            />
          </div>
          <div className="space-y-6">
            <Access sandbox={shown} />
            <Ssh sandbox={shown} />
            <Policy sandbox={shown} policy={data.policy} />
          </div>
        </div>
      )}
    </div>
  );
}

function Section({
  title,
  children,
  aside,
  testId,
}: {
  title: string;
  children: ReactNode;
  aside?: ReactNode;
  testId?: string;
}) {
  return (
    <Card>
      <div data-testid={testId}>
        <div className="flex items-center justify-between border-b border-slate-200 px-5 py-3">
          <h2 className="text-sm font-semibold text-slate-900">{title}</h2>
          {aside}
        </div>
        {children}
      </div>
    </Card>
  );
}

/** A label and its value: side by side in wide cards, stacked in the narrow column. */
function Field({
  label,
  children,
  stacked = false,
}: {
  label: string;
  children: ReactNode;
  stacked?: boolean;
}) {
  if (stacked)
    return (
      <div className="px-5 py-3">
        <dt className="text-xs font-medium text-slate-500">{label}</dt>
        <dd className="mt-1 min-w-0 text-sm break-words text-slate-900">{children}</dd>
      </div>
    );
  return (
    <div className="px-5 py-3 sm:grid sm:grid-cols-3 sm:gap-4">
      <dt className="text-sm text-slate-500">{label}</dt>
      <dd className="mt-1 min-w-0 text-sm break-words text-slate-900 sm:col-span-2 sm:mt-0">
        {children}
      </dd>
    </div>
  );
}

const none = <span className="text-slate-400">—</span>;

/** A command as one would type it: the script of `/bin/sh -c`, else the argv quoted. */
const showCommand = (command: string[]) =>
  command.length === 3 && command[0] === "/bin/sh" && command[1] === "-c"
    ? command[2]
    : command.map((arg) => JSON.stringify(arg)).join(" ");

function Overview({
  sandbox,
  template,
}: {
  sandbox: Sandbox;
  template: {
    name: string;
    image: string | null;
    command: string[] | null;
    error: string | null;
  } | null;
}) {
  const { spec, status, metadata } = sandbox;
  const command = spec.command;
  return (
    <Section title="Overview">
      <dl className="divide-y divide-slate-100">
        <Field label="Source">
          {spec.templateRef ? (
            <span>
              template <Code>{spec.templateRef.name}</Code>
              {template?.image ? (
                <span className="text-slate-500"> · image {template.image}</span>
              ) : template?.error ? (
                <span className="block text-xs text-amber-700">{template.error}</span>
              ) : null}
              {spec.image ? <span className="text-slate-500"> · image {spec.image}</span> : null}
            </span>
          ) : (
            <span>
              image <Code>{spec.image}</Code>
            </span>
          )}
        </Field>
        <Field label="Resources">
          {spec.resources?.cpus ?? 1} vCPU · {spec.resources?.memory ?? "512Mi"} memory
          {spec.resources ? null : <span className="text-slate-500"> (defaults)</span>}
        </Field>
        <Field label="Operating mode">
          {spec.operatingMode === "Suspended" ? (
            <Badge tone="indigo">Suspended</Badge>
          ) : (
            <Badge>Running</Badge>
          )}
        </Field>
        <Field label="Command">
          {!command?.length && template?.command?.length ? (
            <>
              <code className="block rounded bg-slate-50 px-2 py-1 font-mono text-xs whitespace-pre-wrap text-slate-800">
                {showCommand(template.command)}
              </code>
              <span className="text-xs text-slate-500">from its template</span>
            </>
          ) : command?.length ? (
            <code className="block rounded bg-slate-50 px-2 py-1 font-mono text-xs whitespace-pre-wrap text-slate-800">
              {showCommand(command)}
            </code>
          ) : (
            none
          )}
        </Field>
        <Field label="Environment">
          {spec.env?.length ? (
            <ul className="space-y-0.5 font-mono text-xs">
              {spec.env.map((env) => (
                <li key={env.name}>
                  <span className="text-slate-900">{env.name}</span>
                  <span className="text-slate-400">=</span>
                  <span className="text-slate-600">{env.value}</span>
                </li>
              ))}
            </ul>
          ) : (
            none
          )}
        </Field>
        <Field label="Created">
          {metadata.creationTimestamp ? (
            <>
              <Age since={metadata.creationTimestamp} suffix=" ago" />
              <span className="text-slate-500"> · {formatTime(metadata.creationTimestamp)}</span>
            </>
          ) : (
            none
          )}
        </Field>
        <Field label="Started">
          {status?.startedAt ? <Age since={status.startedAt} suffix=" ago" /> : none}
        </Field>
        {status?.message ? <Field label="Message">{status.message}</Field> : null}
      </dl>
    </Section>
  );
}

function conditionTone(condition: Condition): string {
  // Suspended=True is a state, not a fault; every other False is worth a look.
  if (condition.type === "Suspended")
    return condition.status === "True" ? "text-indigo-700" : "text-slate-500";
  if (condition.status === "True") return "text-emerald-700";
  if (condition.status === "False") return "text-red-700";
  return "text-slate-500";
}

function Conditions({ conditions }: { conditions: Condition[] }) {
  return (
    <Section title="Conditions" testId="conditions">
      {conditions.length === 0 ? (
        <p className="px-5 py-4 text-sm text-slate-500">The operator has not reported any yet.</p>
      ) : (
        <ul className="divide-y divide-slate-100">
          {conditions.map((condition) => (
            <li
              key={condition.type}
              data-testid="condition"
              data-type={condition.type}
              data-status={condition.status}
              className="grid grid-cols-[9rem_4.5rem_1fr_auto] items-baseline gap-3 px-5 py-2.5 text-sm"
            >
              <span className="font-medium text-slate-900">{condition.type}</span>
              <span className={`font-medium ${conditionTone(condition)}`}>{condition.status}</span>
              <span className="min-w-0">
                <span className="text-slate-700">{condition.reason || "—"}</span>
                {condition.message ? (
                  <span className="block text-xs break-words text-slate-500">
                    {condition.message}
                  </span>
                ) : null}
              </span>
              <span className="text-xs whitespace-nowrap text-slate-500">
                <Age since={condition.lastTransitionTime} suffix=" ago" />
              </span>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

interface EventRow {
  name: string;
  type: string;
  reason: string;
  message: string;
  count: number;
  last: string | null;
  source: string;
}

function Events({
  events,
  loading,
  error,
}: {
  events: EventRow[];
  loading: boolean;
  error: string | undefined;
}) {
  return (
    <Section
      title="Recent events"
      testId="events"
      aside={<span className="text-xs text-slate-500">{events.length} shown</span>}
    >
      {error ? (
        <p role="alert" className="px-5 py-4 text-sm text-red-700">
          {error}
        </p>
      ) : events.length === 0 ? (
        <p className="px-5 py-4 text-sm text-slate-500">
          {loading ? "Loading…" : "No events recorded for this sandbox."}
        </p>
      ) : (
        <ul className="divide-y divide-slate-100">
          {events.slice(0, 25).map((event) => (
            <li key={event.name} className="flex gap-3 px-5 py-3" data-testid="event">
              <span
                className={`mt-1.5 size-2 shrink-0 rounded-full ${
                  event.type === "Warning" ? "bg-amber-500" : "bg-slate-300"
                }`}
              />
              <div className="min-w-0 flex-1">
                <p className="text-sm">
                  <span className="font-medium text-slate-900">{event.reason}</span>
                  {event.count > 1 ? (
                    <span className="ml-1.5 text-xs text-slate-500">×{event.count}</span>
                  ) : null}
                  {event.type === "Warning" ? (
                    <span className="ml-2">
                      <Badge tone="amber">Warning</Badge>
                    </span>
                  ) : null}
                </p>
                <p className="mt-0.5 text-sm break-words text-slate-600">{event.message}</p>
              </div>
              <div className="shrink-0 text-right text-xs text-slate-500">
                <Age since={event.last} suffix=" ago" />
                {event.source ? <p className="mt-0.5 text-slate-400">{event.source}</p> : null}
              </div>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

const ACCESS: Record<string, { label: string; tone: "slate" | "indigo" | "green" | "amber" }> = {
  private: { label: "Private: the team and admins", tone: "slate" },
  authenticated: { label: "Authenticated: any signed-in user", tone: "indigo" },
  public: { label: "Public: anyone with the URL", tone: "amber" },
};

function Access({ sandbox }: { sandbox: Sandbox }) {
  const ingress = sandbox.spec.ingress;
  const observed = sandbox.status?.ingress;
  const access = observed?.access ?? ingress?.access ?? "private";
  // What the guest's routing table holds once it runs; what was asked for until then.
  const inForce = Boolean(observed?.routes?.length);
  const routes = (inForce ? observed?.routes : ingress?.routes) ?? [];
  const url = observed?.url;
  return (
    <Section title="Access" testId="access">
      <dl className="divide-y divide-slate-100">
        <Field stacked label="URL">
          {url ? (
            <a
              href={url}
              target="_blank"
              rel="noreferrer"
              data-testid="sandbox-url"
              className="inline-flex items-center gap-1 break-all text-indigo-600 hover:text-indigo-500"
            >
              {url}
              <ExternalLinkIcon className="size-3.5 shrink-0" />
            </a>
          ) : ingress?.enabled || sandbox.spec.templateRef ? (
            <span className="text-slate-500">assigned once the sandbox is placed</span>
          ) : (
            <span className="text-slate-500">ingress is not enabled</span>
          )}
        </Field>
        <Field stacked label="Who">
          <Badge tone={ACCESS[access]?.tone ?? "slate"}>{ACCESS[access]?.label ?? access}</Badge>
        </Field>
        <Field stacked label="WebSockets">
          {ingress?.websockets === false ? "refused" : "allowed"}
        </Field>
      </dl>
      <div className="border-t border-slate-200">
        <h3 className="px-5 pt-3 text-xs font-medium tracking-wide text-slate-500 uppercase">
          Routes {inForce ? "(in force)" : "(requested)"}
        </h3>
        {routes.length === 0 ? (
          <p className="px-5 py-3 text-sm text-slate-500">No routes.</p>
        ) : (
          <table className="w-full text-left text-sm" data-testid="routes">
            <tbody className="divide-y divide-slate-100">
              {routes.map((route) => (
                <tr key={route.prefix}>
                  <td className="py-2 pl-5 font-mono text-xs text-slate-900">{route.prefix}</td>
                  <td className="px-3 py-2 whitespace-nowrap text-slate-600">→ {route.port}</td>
                  <td className="py-2 pr-5 text-right text-xs whitespace-nowrap text-slate-500">
                    {route.stripPrefix === false ? "keeps prefix" : "strips prefix"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Section>
  );
}

function Ssh({ sandbox }: { sandbox: Sandbox }) {
  const command = sandbox.status?.ssh?.command;
  const [copied, setCopied] = useState(false);
  return (
    <Section title="SSH" testId="ssh">
      <div className="px-5 py-4 text-sm">
        {command ? (
          <div className="flex items-center gap-2">
            <code
              className="min-w-0 flex-1 rounded bg-slate-900 px-3 py-2 font-mono text-xs break-all text-slate-100"
              data-testid="ssh-command"
            >
              {command}
            </code>
            <button
              type="button"
              title="Copy"
              aria-label="Copy the SSH command"
              className="rounded-md p-2 text-slate-500 ring-1 ring-slate-200 hover:bg-slate-50"
              onClick={async () => {
                await navigator.clipboard?.writeText(command);
                setCopied(true);
                setTimeout(() => setCopied(false), 1500);
              }}
            >
              <CopyIcon className="size-4" />
            </button>
            {copied ? <span className="text-xs text-emerald-700">Copied</span> : null}
          </div>
        ) : sandbox.spec.ssh?.enabled ? (
          <p className="text-slate-500">The command appears once the sandbox is placed.</p>
        ) : (
          <p className="text-slate-500">
            SSH is not enabled (<Code>spec.ssh.enabled</Code>).
          </p>
        )}
      </div>
    </Section>
  );
}

interface PolicyInForce {
  name: string;
  from: "sandbox" | "template";
  mode: string | null;
  allowedHosts: string[] | null;
  secrets: { name: string; hosts: string[] }[] | null;
  allowSandboxOverrides: boolean | null;
  error: string | null;
}

function Policy({ sandbox, policy }: { sandbox: Sandbox; policy: PolicyInForce | null }) {
  const network = sandbox.spec.network;
  const applied = sandbox.status?.conditions?.find((c) => c.type === "PolicyApplied");
  const inline = network?.allowedHosts;
  return (
    <Section title="Egress policy" testId="policy">
      <dl className="divide-y divide-slate-100">
        <Field stacked label="Policy">
          {policy ? (
            <span>
              <Code>{policy.name}</Code>
              {policy.from === "template" ? (
                <span className="text-slate-500"> (from its template)</span>
              ) : null}
              {policy.error ? (
                <span className="mt-1 block text-xs text-amber-700">{policy.error}</span>
              ) : null}
            </span>
          ) : (
            <span className="text-slate-500">none: default-deny unless allowed inline</span>
          )}
        </Field>
        {policy?.mode ? (
          <Field stacked label="Mode">
            <Badge tone={policy.mode === "report" ? "amber" : "slate"}>{policy.mode}</Badge>
          </Field>
        ) : null}
        <Field stacked label="Allowed hosts">
          {policy?.allowedHosts?.length || inline?.length ? (
            <ul className="space-y-0.5 font-mono text-xs">
              {[...new Set([...(policy?.allowedHosts ?? []), ...(inline ?? [])])].map((host) => (
                <li key={host}>{host}</li>
              ))}
            </ul>
          ) : (
            <span className="text-slate-500">none</span>
          )}
        </Field>
        {policy?.secrets?.length || network?.secrets?.length ? (
          <Field stacked label="Secrets">
            <ul className="space-y-0.5 text-xs">
              {[...(policy?.secrets ?? []), ...(network?.secrets ?? [])].map((secret) => (
                <li key={secret.name}>
                  <span className="font-mono text-slate-900">{secret.name}</span>
                  <span className="text-slate-500"> → {secret.hosts.join(", ")}</span>
                </li>
              ))}
            </ul>
          </Field>
        ) : null}
        {applied ? (
          <Field stacked label="Applied">
            <span className={applied.status === "True" ? "text-emerald-700" : "text-red-700"}>
              {applied.status === "True" ? "yes" : "no"}
            </span>
            {applied.message ? (
              <span className="block text-xs text-slate-500">{applied.message}</span>
            ) : null}
          </Field>
        ) : null}
      </dl>
    </Section>
  );
}
