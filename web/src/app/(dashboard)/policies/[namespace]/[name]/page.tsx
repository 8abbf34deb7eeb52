import type { Metadata } from "next";
import { Breadcrumb } from "~/components/breadcrumb";
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
      <Breadcrumb
        trail={[{ label: "Policies", href: "/policies" }, { label: namespace }, { label: name }]}
      />
      <PolicyEditor namespace={namespace} name={name} />
    </div>
  );
}
