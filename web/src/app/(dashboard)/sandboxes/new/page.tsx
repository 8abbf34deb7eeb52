import { TRPCError } from "@trpc/server";
import type { Metadata } from "next";
import { Breadcrumb } from "~/components/breadcrumb";
import { PageHeader } from "~/components/page";
import { getQueryClient, HydrateClient, trpc } from "~/trpc/server";
import { Unavailable } from "../_components/unavailable";
import { NewSandboxForm } from "./new-sandbox-form";

export const metadata: Metadata = { title: "New sandbox" };

/** The new sandbox form; the namespaces the user may create in are fetched here. */
export default async function NewSandboxPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const query = await searchParams;
  let unavailable: string | undefined;
  try {
    await getQueryClient().fetchQuery(trpc.sandboxes.formOptions.queryOptions({}));
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    unavailable = error.message;
  }
  const namespace = typeof query.namespace === "string" ? query.namespace : undefined;
  return (
    <HydrateClient>
      <div className="space-y-6">
        <Breadcrumb trail={[{ label: "Sandboxes", href: "/sandboxes" }, { label: "New" }]} />
        <PageHeader
          title="New sandbox"
          description="A Gondolin micro-VM from a template or an image. It is created as you: Kubernetes decides what you may make, and checks it."
        />
        {unavailable ? (
          <Unavailable
            title="Sandboxes cannot be created right now"
            message={unavailable}
            retry="/sandboxes/new"
          />
        ) : (
          <NewSandboxForm initialNamespace={namespace} />
        )}
      </div>
    </HydrateClient>
  );
}
