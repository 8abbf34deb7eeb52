import type { Metadata } from "next";
import { PageHeader } from "~/components/page";
import { RequestsList } from "./requests-list";

export const metadata: Metadata = { title: "Policy requests" };

/**
 * Requests to allow a host, pending first. Lives in the (policy-requests)
 * route group so it sits at /policies/requests beside the policy editor's
 * own pages without sharing their folder.
 */
export default function PolicyRequestsPage() {
  return (
    <div className="space-y-6">
      <PageHeader
        title="Policy requests"
        description="Requests to allow a host, made from denied egress events. Admins and a team's owners approve or reject them; approving changes the policy as you, live."
      />
      <RequestsList />
    </div>
  );
}
