import type { Metadata } from "next";
import Link from "next/link";
import { ChevronRightIcon } from "~/components/action-icons";
import { PolicyEditor } from "./policy-editor";

export const metadata: Metadata = { title: "Policy" };

export default async function PolicyPage({
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
        <span className="font-medium text-slate-700">{name}</span>
      </nav>
      <PolicyEditor namespace={namespace} name={name} />
    </div>
  );
}
