import type { Metadata } from "next";
import { CubeIcon } from "~/components/icons";
import { Card, Code, EmptyState, PageHeader } from "~/components/page";
import { getServerSession } from "~/server/auth";

export const metadata: Metadata = { title: "Sandboxes" };

/** The sandbox list; until the sandboxes router lands, who you are and how to make one. */
export default async function SandboxesPage() {
  const session = await getServerSession();
  return (
    <div className="space-y-8">
      <PageHeader
        title="Sandboxes"
        description="Gondolin micro-VMs of your teams, with their routed URLs, terminals and egress."
      />
      <p className="text-sm text-slate-600" data-testid="signed-in-as">
        Signed in as <span className="font-medium text-slate-900">{session?.user.email}</span>
        {session?.teams.length ? (
          <>
            {" "}
            · teams <span className="font-medium text-slate-900">{session.teams.join(", ")}</span>
          </>
        ) : null}
      </p>
      <Card>
        <EmptyState icon={<CubeIcon />} title="No sandboxes to show yet">
          <p>
            Create one with <Code>kubectl apply -f examples/</Code>; it appears here once the
            operator has placed it on a node.
          </p>
        </EmptyState>
      </Card>
    </div>
  );
}
