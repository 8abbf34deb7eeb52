import type { Metadata } from "next";
import { forbidden, notFound, redirect } from "next/navigation";
import { LockIcon } from "~/components/account-icons";
import { Logo } from "~/components/logo";
import { StatusPage } from "~/components/status-page";
import { signInState } from "./handoff";
import { SignInForm } from "./signin-form";

export const metadata: Metadata = { title: "Sign in" };

/**
 * Sign-in, and the router's hand-off: `?return=` is a path on the dashboard
 * or a routed sandbox URL (see server/ingress/return-url.ts); anything else
 * is ignored. A signed-in user goes on at once: to the path, or back to the
 * sandbox with a hand-off token; a user who may not open that sandbox gets
 * a 403 page (forbidden.tsx) rather than being sent round again.
 */
export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const raw = (await searchParams).return;
  const { target, outcome, email } = await signInState(typeof raw === "string" ? raw : raw?.[0]);
  if (outcome?.kind === "redirect") redirect(outcome.location);
  if (outcome?.kind === "forbidden") forbidden();
  if (outcome?.kind === "unknown") notFound();
  if (email !== undefined && target.kind === "path") redirect(target.path);
  if (outcome?.kind === "unavailable") return <HandoffUnavailable label={outcome.label} />;
  const sandboxHost = target.kind === "sandbox" ? new URL(target.url).host : undefined;
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
          {sandboxHost ? (
            <div
              className="mt-6 flex gap-3 rounded-lg bg-indigo-50 p-3 text-sm text-indigo-900 ring-1 ring-indigo-600/10"
              data-testid="signin-sandbox"
            >
              <LockIcon className="size-5 shrink-0 text-indigo-500" />
              <p>
                Sign in to open{" "}
                <span className="font-mono font-medium wrap-break-word">{sandboxHost}</span>.
              </p>
            </div>
          ) : null}
          <div className="mt-8">
            <SignInForm
              returnTo={
                target.kind === "sandbox"
                  ? { kind: "sandbox", url: target.url }
                  : { kind: "path", path: target.path }
              }
            />
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

/** The sandbox or the token key could not be read just now (the log says why). */
function HandoffUnavailable({ label }: { label: string }) {
  return (
    <StatusPage
      title="Cannot open the sandbox right now"
      titleTestId="handoff-unavailable"
      back="Back to your sandboxes"
    >
      <p className="mt-2 max-w-lg text-sm text-slate-500">
        The dashboard could not check your access to{" "}
        <span className="font-mono wrap-break-word">{label}</span>. Reload this page in a moment; if
        it keeps failing, tell your platform admins.
      </p>
    </StatusPage>
  );
}
