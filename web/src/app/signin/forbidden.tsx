import { StatusPage } from "~/components/status-page";
import { currentReturnParam, signInState } from "./handoff";
import { SignInAsSomeoneElse } from "./switch-account";

/**
 * 403 for the hand-off: a private sandbox of a team the signed-in user is
 * not in. A page that says so, not another trip through sign-in.
 */
export default async function SandboxForbidden() {
  const state = await signInState(await currentReturnParam());
  const outcome = state.outcome?.kind === "forbidden" ? state.outcome : undefined;
  const host = state.target.kind === "sandbox" ? new URL(state.target.url).host : undefined;
  return (
    <StatusPage
      code="403"
      title="You cannot open this sandbox"
      titleTestId="handoff-forbidden"
      back="Back to your sandboxes"
      actions={
        state.target.kind === "sandbox" ? (
          <SignInAsSomeoneElse returnUrl={state.target.url} />
        ) : undefined
      }
    >
      {outcome ? (
        <div className="mt-3 max-w-lg space-y-2 text-sm text-slate-600">
          <p>
            <span className="font-mono font-medium text-slate-900 wrap-break-word">{host}</span> is
            the private sandbox <span className="font-mono">{outcome.sandbox.name}</span> in
            namespace <span className="font-mono">{outcome.sandbox.namespace}</span>, which belongs
            to team{" "}
            <span className="font-mono font-medium text-slate-900">{outcome.sandbox.team}</span>.
          </p>
          <p>
            You are signed in as <span className="font-medium text-slate-900">{state.email}</span>,
            who is not in that team. Ask a platform admin to add you, or sign in with another
            account.
          </p>
        </div>
      ) : (
        <p className="mt-2 text-sm text-slate-500">Your account may not open this sandbox.</p>
      )}
    </StatusPage>
  );
}
