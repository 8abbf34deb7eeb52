import Link from "next/link";
import { LogoMark } from "~/components/logo";
import { currentReturnParam, signInState } from "./handoff";

/** 404 for the hand-off: no sandbox answers to the routed host (or two claim it). */
export default async function SandboxNotFound() {
  const state = await signInState(await currentReturnParam());
  const outcome = state.outcome?.kind === "unknown" ? state.outcome : undefined;
  const host = state.target.kind === "sandbox" ? new URL(state.target.url).host : undefined;
  return (
    <main className="flex min-h-full flex-col items-center justify-center px-6 py-24 text-center">
      <LogoMark className="size-10" />
      <p className="mt-6 text-sm font-semibold text-indigo-600">404</p>
      <h1 className="mt-2 text-2xl font-semibold tracking-tight" data-testid="handoff-not-found">
        No sandbox at this address
      </h1>
      <p className="mt-2 max-w-lg text-sm text-slate-500">
        {outcome?.reason === "ambiguous" ? (
          <>
            Two sandboxes claim <span className="font-mono wrap-break-word">{host}</span>, so
            neither is served; a platform admin must rename one.
          </>
        ) : host ? (
          <>
            No sandbox is routed at <span className="font-mono wrap-break-word">{host}</span>: it
            may have been deleted, or the link is mistyped.
          </>
        ) : (
          "There is nothing at this address."
        )}
      </p>
      <Link
        href="/sandboxes"
        className="mt-6 text-sm font-semibold text-indigo-600 hover:text-indigo-500"
      >
        Back to your sandboxes →
      </Link>
    </main>
  );
}
