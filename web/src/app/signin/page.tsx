import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Logo } from "~/components/logo";
import { safeReturnPath } from "~/lib/return-path";
import { getServerSession } from "~/server/auth";
import { SignInForm } from "./signin-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const returnPath = safeReturnPath((await searchParams).return);
  if (await getServerSession()) redirect(returnPath);
  return (
    <main className="flex min-h-full">
      <div className="flex flex-1 flex-col justify-center px-6 py-12 lg:flex-none lg:px-20 xl:px-24">
        <div className="mx-auto w-full max-w-sm">
          <Logo />
          <h1 className="mt-10 text-2xl font-semibold tracking-tight text-slate-900">
            Sign in to your account
          </h1>
          <p className="mt-2 text-sm text-slate-500">
            Accounts are created by your platform administrators.
          </p>
          <div className="mt-8">
            <SignInForm returnPath={returnPath} />
          </div>
        </div>
      </div>
      <aside className="relative hidden flex-1 overflow-hidden bg-slate-900 lg:flex lg:flex-col lg:justify-end">
        <div
          aria-hidden="true"
          className="absolute inset-0 bg-[radial-gradient(ellipse_at_top_right,var(--color-indigo-500)_0%,transparent_60%)] opacity-40"
        />
        <div
          aria-hidden="true"
          className="absolute inset-0 bg-[linear-gradient(to_right,rgb(255_255_255/0.04)_1px,transparent_1px),linear-gradient(to_bottom,rgb(255_255_255/0.04)_1px,transparent_1px)] bg-[size:40px_40px]"
        />
        <div className="relative p-16 text-slate-300">
          <p className="text-3xl font-semibold tracking-tight text-white">
            Micro-VM sandboxes on Kubernetes.
          </p>
          <ul className="mt-6 space-y-2 text-sm">
            <li>Each sandbox is its own Gondolin VM, placed by the operator.</li>
            <li>Default-deny egress, audited request by request.</li>
            <li>Routed URLs, terminals and SSH, for your team only.</li>
          </ul>
        </div>
      </aside>
    </main>
  );
}
