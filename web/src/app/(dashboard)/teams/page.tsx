import type { Metadata } from "next";
import { forbidden } from "next/navigation";
import { TeamIcon } from "~/components/icons";
import { Card, Code, EmptyState, PageHeader } from "~/components/page";
import { getServerSession } from "~/server/auth";

export const metadata: Metadata = { title: "Teams" };

/** Platform admins manage teams; everyone else is refused (the nav hides the link too). */
export default async function TeamsPage() {
  const session = await getServerSession();
  if (!session?.isAdmin) forbidden();
  return (
    <div className="space-y-8">
      <PageHeader
        title="Teams"
        description="Teams own namespaces and their sandboxes; owners manage members."
      />
      <Card>
        <EmptyState icon={<TeamIcon />} title="No teams to show yet">
          <p>
            A team's namespaces carry the label <Code>turgon.dev/team</Code>; binding them and
            managing members arrives with the teams view.
          </p>
        </EmptyState>
      </Card>
    </div>
  );
}
