import "server-only";
import { headers } from "next/headers";
import { cache } from "react";
import { PATH_HEADER } from "~/lib/request-path";
import { getServerSession } from "~/server/auth";
import {
  type HandoffOutcome,
  handOffTo,
  type IngressSite,
  ingressSite,
  parseReturn,
  type ReturnTarget,
} from "~/server/ingress";
import { componentLogger } from "~/server/logger";

const log = componentLogger("handoff");

export interface SignInState {
  target: ReturnTarget;
  /**
   * The hand-off's outcome, for a signed-in user returning to a routed
   * sandbox; `unavailable` when the sandbox or the token key could not be
   * read (logged; the page says to try again).
   */
  outcome?: HandoffOutcome | { kind: "unavailable"; label: string };
  email?: string;
}

/**
 * What /signin does with its `return` parameter, worked out once per
 * request (React's cache): the page acts on it, and its forbidden and
 * not-found boundaries, which take no props, explain it.
 */
export const signInState = cache(async (rawReturn: string | undefined): Promise<SignInState> => {
  const target = parseReturn(rawReturn, await knownSite());
  const session = await getServerSession();
  if (!session || target.kind !== "sandbox")
    return { target, ...(session ? { email: session.user.email } : {}) };
  let outcome: HandoffOutcome;
  try {
    outcome = await handOffTo(target, {
      id: session.user.id,
      teams: session.teams,
      admin: session.isAdmin,
    });
  } catch (error) {
    log.error(
      { err: error, user: session.user.email, label: target.label },
      "sign-in hand-off failed",
    );
    return {
      target,
      outcome: { kind: "unavailable", label: target.label },
      email: session.user.email,
    };
  }
  // Who went where, never the token.
  log.info(
    {
      user: session.user.email,
      label: target.label,
      outcome: outcome.kind,
      ...(outcome.kind === "unknown" ? { reason: outcome.reason } : {}),
      ...(outcome.kind !== "unknown"
        ? {
            sandbox: `${outcome.sandbox.namespace}/${outcome.sandbox.name}`,
            access: outcome.sandbox.access,
          }
        : {}),
    },
    "sign-in hand-off",
  );
  return { target, outcome, email: session.user.email };
});

/** How long the sign-in page waits for the edge ConfigMap's first read (later reads are in memory). */
const EDGE_WAIT_MS = 5000;

/**
 * The router's site from the edge ConfigMap; undefined (logged) when it
 * cannot be read in time, and then no routed URL is taken as a return
 * target: the visitor still signs in, and lands on the dashboard.
 */
async function knownSite(): Promise<IngressSite | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from the API server within ${EDGE_WAIT_MS / 1000} s`)),
      EDGE_WAIT_MS,
    );
  });
  try {
    return await Promise.race([ingressSite(), late]);
  } catch (error) {
    log.error({ err: error }, "edge facts unknown: a routed return URL is ignored");
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The `return` parameter of the page being rendered, for the boundaries (which get no search params). */
export async function currentReturnParam(): Promise<string | undefined> {
  const path = (await headers()).get(PATH_HEADER);
  if (!path) return undefined;
  return new URL(path, "http://turgon.invalid").searchParams.get("return") ?? undefined;
}
