import type { Metadata } from "next";
import Link from "next/link";
import { ChevronRightIcon } from "~/components/action-icons";
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
      <nav aria-label="Breadcrumb" className="flex items-center gap-1.5 text-sm text-slate-500">
        <Link href="/policies" className="hover:text-slate-700">
          Policies
        </Link>
        <ChevronRightIcon className="size-3.5 text-slate-400" />
        <span>{namespace}</span>
        <ChevronRightIcon className="size-3.5 text-slate-400" />
        <Link href={`/policies/${namespace}/${name}`} className="hover:text-slate-700">
          {name}
        </Link>
        <ChevronRightIcon className="size-3.5 text-slate-400" />
        <span className="font-medium text-slate-700">History</span>
      </nav>
      <PageHeader
        title={`${name}: history`}
        description="Every version saved from the dashboard: who, when, why, and what changed. Restoring writes a new version."
      />
      <PolicyHistory namespace={namespace} name={name} />
    </div>
  );
}
