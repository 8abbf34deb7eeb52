import { dnsLabel } from "@turgon/api/crd";
import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { PageHeader } from "~/components/page";
import { Terminal } from "~/components/terminal";

interface Params {
  namespace: string;
  name: string;
}

export async function generateMetadata({ params }: { params: Promise<Params> }): Promise<Metadata> {
  const { namespace, name } = await params;
  return { title: `Terminal · ${namespace}/${name}` };
}

/**
 * A full-page shell in one sandbox. Whether the user may open it is
 * Kubernetes RBAC's call, made when the terminal asks for its token; the
 * terminal shows the refusal.
 */
export default async function TerminalPage({ params }: { params: Promise<Params> }) {
  const { namespace, name } = await params;
  if (!dnsLabel.safeParse(namespace).success || !dnsLabel.safeParse(name).success) notFound();
  return (
    <div className="space-y-6">
      <PageHeader
        title="Terminal"
        description={
          <>
            <Link href="/sandboxes" className="text-indigo-600 hover:text-indigo-500">
              Sandboxes
            </Link>{" "}
            / <span className="font-mono text-slate-700">{namespace}</span> /{" "}
            <Link
              href={`/sandboxes/${namespace}/${name}`}
              className="font-mono text-indigo-600 hover:text-indigo-500"
            >
              {name}
            </Link>{" "}
            · a login shell in the sandbox; the session is recorded.
          </>
        }
      />
      <Terminal namespace={namespace} name={name} className="h-[calc(100vh-13rem)] min-h-72" />
    </div>
  );
}
