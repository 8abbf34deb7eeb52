"use client";

import { Tabs, useAddressTab } from "~/components/tabs";
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
  const [tab, choose] = useAddressTab<AuditTab>(initialTab, "egress");
  return (
    <div className="space-y-6">
      <Tabs
        label="Audit views"
        tabs={[
          ["egress", "Egress"],
          ["sessions", "Exec and SSH sessions"],
        ]}
        current={tab}
        onChoose={choose}
      />
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
