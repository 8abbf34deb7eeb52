/**
 * The router's sign-in hand-off, the dashboard's half: a signed-in user
 * arrives at /signin?return=<routed URL>; if they may open that sandbox,
 * they go back to it with a one-minute, single-use `turgon_token`, which
 * the router swaps for its own session cookie on that host.
 */
import { INGRESS_TOKEN_PARAM, mintHandoffToken } from "@turgon/api/routing";
import { decideAccess, type IngressUser } from "./access.ts";
import type { IngressKeySource } from "./keys.ts";
import type { RoutedSandbox, SandboxDirectory } from "./sandboxes.ts";

export interface HandoffUser extends IngressUser {
  /** The dashboard's user id: the token's subject. */
  id: string;
}

export type HandoffOutcome =
  /** Send the browser here (with a token, unless the sandbox is public). */
  | { kind: "redirect"; location: string; sandbox: RoutedSandbox }
  /** Not theirs: a private sandbox of a team they are not in. */
  | { kind: "forbidden"; label: string; sandbox: RoutedSandbox }
  /** No sandbox has that label, or two claim it. */
  | { kind: "unknown"; label: string; reason: "missing" | "ambiguous" };

export interface HandoffDeps {
  directory: SandboxDirectory;
  keys: IngressKeySource;
}

/** Decides the hand-off to `target` (a URL from `parseReturn`) for `user`. */
export async function handOff(
  target: { label: string; url: string },
  user: HandoffUser,
  deps: HandoffDeps,
): Promise<HandoffOutcome> {
  const found = await deps.directory.find(target.label);
  if (found.kind !== "found") return { kind: "unknown", label: target.label, reason: found.kind };
  const { sandbox } = found;
  const decision = decideAccess(sandbox.access, sandbox.team, user);
  if (!decision.allowed) return { kind: "forbidden", label: target.label, sandbox };
  const url = new URL(target.url);
  url.searchParams.delete(INGRESS_TOKEN_PARAM);
  if (decision.token) {
    const token = await mintHandoffToken(await deps.keys.current(), {
      sub: user.id,
      aud: target.label,
      teams: [...user.teams],
      admin: user.admin,
    });
    url.searchParams.set(INGRESS_TOKEN_PARAM, token);
  }
  return { kind: "redirect", location: url.href, sandbox };
}
