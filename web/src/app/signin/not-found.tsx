import { StatusPage } from "~/components/status-page";
import { currentReturnParam, signInState } from "./handoff";

/** 404 for the hand-off: no sandbox answers to the routed host (or two claim it). */
export default async function SandboxNotFound() {
  const state = await signInState(await currentReturnParam());
  const outcome = state.outcome?.kind === "unknown" ? state.outcome : undefined;
  const host = state.target.kind === "sandbox" ? new URL(state.target.url).host : undefined;
  return (
    <StatusPage
      code="404"
      title="No sandbox at this address"
      titleTestId="handoff-not-found"
      back="Back to your sandboxes"
    >
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
    </StatusPage>
  );
}
