"use client";

import { useState } from "react";
import type { AuditFilter, SessionFilter } from "~/lib/audit.ts";
import { EgressView } from "./egress-view";
import { SessionsView } from "./sessions-view";

export type AuditTab = "egress" | "sessions";

/** The Egress and Sessions tabs, with the tab in the URL (`?tab=sessions`). */
export function AuditTabs({
  initialTab,
  egress,
  sessions,
  scope,
}: {
  initialTab: AuditTab;
  egress: { filter: AuditFilter; errors: Record<string, string> };
  sessions: { filter: SessionFilter; errors: Record<string, string> };
  scope?: { namespace: string; sandbox: string };
}) {
  const [tab, setTab] = useState<AuditTab>(initialTab);
  const choose = (next: AuditTab) => {
    setTab(next);
    const url = new URL(window.location.href);
    if (next === "egress") url.searchParams.delete("tab");
    else url.searchParams.set("tab", next);
    window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}`);
  };
  return (
    <div className="space-y-6">
      <div className="border-b border-slate-200">
        <div className="-mb-px flex gap-6" aria-label="Audit views" role="tablist">
          {(
            [
              ["egress", "Egress"],
              ["sessions", "Exec and SSH sessions"],
            ] as const
          ).map(([key, label]) => (
            <button
              key={key}
              type="button"
              role="tab"
              aria-selected={tab === key}
              onClick={() => choose(key)}
              className={`border-b-2 px-1 pb-3 text-sm font-medium ${
                tab === key
                  ? "border-indigo-500 text-indigo-600"
                  : "border-transparent text-slate-500 hover:border-slate-300 hover:text-slate-700"
              }`}
            >
              {label}
            </button>
          ))}
        </div>
      </div>
      {tab === "egress" ? (
        <EgressView
          initialFilter={egress.filter}
          errors={egress.errors}
          {...(scope ? { scope } : {})}
        />
      ) : (
        <SessionsView
          initialFilter={sessions.filter}
          errors={sessions.errors}
          {...(scope ? { scope } : {})}
        />
      )}
    </div>
  );
}
