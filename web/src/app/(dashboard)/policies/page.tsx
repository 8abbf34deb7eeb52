import type { Metadata } from "next";
import { PageHeader } from "~/components/page";
import { PoliciesList } from "./policies-list";

export const metadata: Metadata = { title: "Policies" };

/** SandboxPolicies per namespace the user's teams hold (all for admins). */
export default function PoliciesPage() {
  return (
    <div className="space-y-6">
      <PageHeader
        title="Policies"
        description="Egress rules for sandboxes, per namespace. Changes reach running sandboxes live; every saved version is kept."
      />
      <PoliciesList />
    </div>
  );
}
