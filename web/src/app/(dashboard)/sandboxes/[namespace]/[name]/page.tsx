import { TRPCError } from "@trpc/server";
import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { Breadcrumb } from "~/components/breadcrumb";
import { AlertIcon } from "~/components/icons";
import { Card } from "~/components/page";
import { filterFromQuery, sessionFilterFromQuery } from "~/lib/audit.ts";
import { getQueryClient, HydrateClient, trpc } from "~/trpc/server";
import { SandboxDetail } from "./sandbox-detail";

type Params = Promise<{ namespace: string; name: string }>;

export async function generateMetadata({ params }: { params: Params }): Promise<Metadata> {
  const { namespace, name } = await params;
  return { title: `${name} · ${namespace}` };
}

/**
 * One sandbox. It is read here as the signed-in user (Kubernetes RBAC
 * decides: a refusal shows the API server's own words), its events with
 * it; the client component then follows it live.
 */
export default async function SandboxPage({
  params,
  searchParams,
}: {
  params: Params;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const [{ namespace, name }, query] = await Promise.all([params, searchParams]);
  const queryClient = getQueryClient();
  let refusal: string | undefined;
  try {
    const detail = await queryClient.fetchQuery(
      trpc.sandboxes.get.queryOptions({ namespace, name }),
    );
    // The same input as the client's (sandbox-detail.tsx), so the prefetched events hydrate it.
    const uid = detail.sandbox.metadata.uid;
    await queryClient.prefetchQuery(
      trpc.sandboxes.events.queryOptions({ namespace, name, ...(uid ? { uid } : {}) }),
    );
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    if (error.code === "NOT_FOUND" || error.code === "BAD_REQUEST") notFound();
    if (error.code !== "FORBIDDEN") throw error;
    refusal = error.message;
  }
  const breadcrumb = (
    <Breadcrumb
      trail={[
        { label: "Sandboxes", href: "/sandboxes" },
        { label: namespace, href: `/sandboxes?namespace=${encodeURIComponent(namespace)}` },
        { label: name },
      ]}
    />
  );
  if (refusal)
    return (
      <div className="space-y-6">
        {breadcrumb}
        <Card>
          <div className="flex flex-col items-center px-6 py-16 text-center">
            <div className="flex size-12 items-center justify-center rounded-full bg-red-50 text-red-600">
              <AlertIcon className="size-6" />
            </div>
            <h1 className="mt-4 text-base font-semibold text-slate-900">
              Kubernetes refused to show this sandbox
            </h1>
            <p
              className="mt-2 max-w-xl font-mono text-xs text-slate-600"
              role="alert"
              data-testid="refusal"
            >
              {refusal}
            </p>
          </div>
        </Card>
      </div>
    );
  const tab =
    query.tab === "terminal" ||
    query.tab === "network" ||
    query.tab === "egress" ||
    query.tab === "sessions"
      ? query.tab
      : "overview";
  return (
    <HydrateClient>
      <div className="space-y-6">
        {breadcrumb}
        <SandboxDetail
          namespace={namespace}
          name={name}
          initialTab={tab}
          audit={{ egress: filterFromQuery(query), sessions: sessionFilterFromQuery(query) }}
        />
      </div>
    </HydrateClient>
  );
}
