import type { Metadata } from "next";
import { ServerIcon } from "~/components/icons";
import { Card, Code, EmptyState, PageHeader } from "~/components/page";

export const metadata: Metadata = { title: "Nodes" };

export default function NodesPage() {
  return (
    <div className="space-y-8">
      <PageHeader
        title="Nodes"
        description="KVM hosts whose node agents run the sandboxes: capacity, allocation and heartbeat."
      />
      <Card>
        <EmptyState icon={<ServerIcon />} title="No nodes to show yet">
          <p>
            Node agents register themselves as <Code>SandboxNode</Code> resources; they are listed
            here with their capacity once the nodes view is connected.
          </p>
        </EmptyState>
      </Card>
    </div>
  );
}
