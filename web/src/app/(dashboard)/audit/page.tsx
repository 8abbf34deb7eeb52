import type { Metadata } from "next";
import { AuditTabs } from "~/components/audit/audit-tabs";
import { PageHeader } from "~/components/page";
import { filterFromQuery, sessionFilterFromQuery } from "~/lib/audit.ts";
import { getServerSession } from "~/server/auth";

export const metadata: Metadata = { title: "Audit" };

/**
 * The egress audit and exec/SSH sessions. Filters come from the URL query
 * (a shared link shows the same view); the rows are read by the client,
 * which keeps the list live.
 */
export default async function AuditPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const [session, query] = await Promise.all([getServerSession(), searchParams]);
  const teams = session?.teams ?? [];
  return (
    <div className="space-y-6">
      <PageHeader
        title="Audit"
        description={
          <span data-testid="audit-scope">
            {session?.isAdmin
              ? "Every egress request and session in the cluster: you are a platform admin"
              : teams.length
                ? `Egress requests and sessions of your teams' sandboxes: ${teams.join(", ")}`
                : "You are in no team yet, so there is nothing to show"}
          </span>
        }
      />
      <AuditTabs
        initialTab={query.tab === "sessions" ? "sessions" : "egress"}
        egress={filterFromQuery(query)}
        sessions={sessionFilterFromQuery(query)}
      />
    </div>
  );
}
