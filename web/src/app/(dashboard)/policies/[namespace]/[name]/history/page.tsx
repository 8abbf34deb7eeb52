import type { Metadata } from "next";
import { Breadcrumb } from "~/components/breadcrumb";
import { PageHeader } from "~/components/page";
import { PolicyHistory } from "./policy-history";

export const metadata: Metadata = { title: "Policy history" };

export default async function PolicyHistoryPage({
  params,
}: {
  params: Promise<{ namespace: string; name: string }>;
}) {
  const { namespace, name } = await params;
  return (
    <div className="space-y-6">
      <Breadcrumb
        trail={[
          { label: "Policies", href: "/policies" },
          { label: namespace },
          { label: name, href: `/policies/${namespace}/${name}` },
          { label: "History" },
        ]}
      />
      <PageHeader
        title={`${name}: history`}
        description="Every version saved from the dashboard: who, when, why, and what changed. Restoring writes a new version."
      />
      <PolicyHistory namespace={namespace} name={name} />
    </div>
  );
}
