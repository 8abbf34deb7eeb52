/**
 * The CONFLICT a save over a newer version gets, for a SandboxPolicy
 * (./edit.ts) and for a Sandbox's own spec.network (../sandbox-network/edit.ts)
 * alike: the rules on the server now, what changed since the user loaded
 * theirs, and who saved them when the dashboard did. The editor shows it
 * (the tRPC error formatter passes `details` on).
 */

import { TRPCError } from "@trpc/server";
import type { SandboxPolicy } from "@turgon/api/crd";
import type { PolicyChange } from "@turgon/prisma";
import { specDiff, specYaml } from "./diff.ts";

/** What a conflict carries: the version on the server now, and what changed since the user loaded. */
export interface ConflictDetails {
  resourceVersion: string;
  spec: SandboxPolicy["spec"];
  yaml: string;
  /** From the version the user loaded to the one on the server now ("" when unknown). */
  theirDiff: string;
  /** Who saved it and when, when the dashboard saved it. */
  by: { email: string; at: string; reason: string | null } | null;
}

/** The TRPCError of a save over a newer version: CONFLICT, `cause` a PolicyConflict. */
export class PolicyConflict extends Error {
  readonly details: ConflictDetails;
  constructor(details: ConflictDetails) {
    super("someone else saved these rules after you loaded them");
    this.name = "PolicyConflict";
    this.details = details;
  }
}

export interface ConflictInput {
  /** The token the editor reloads with. */
  resourceVersion: string;
  /** The label of the rules in the diff, as history labels them (the object's name). */
  name: string;
  /** The rules on the server now. */
  current: unknown;
  /** The rules the user loaded; undefined when not known, which leaves the diff empty. */
  loaded: unknown;
  /** The dashboard's history row of the rules on the server now, when the dashboard saved them. */
  theirs: PolicyChange | null | undefined;
  /** How the message names the rules and refers back to them: "this policy", "it". */
  subject: string;
  it: string;
}

/** The CONFLICT error for a save (or delete) over rules someone changed since the user loaded them. */
export function conflictError(input: ConflictInput): TRPCError {
  const { theirs } = input;
  const details: ConflictDetails = {
    resourceVersion: input.resourceVersion,
    spec: (input.current ?? {}) as ConflictDetails["spec"],
    yaml: specYaml(input.current ?? {}),
    theirDiff:
      input.loaded === undefined ? "" : specDiff(input.name, input.loaded, input.current ?? {}),
    by: theirs
      ? { email: theirs.userEmail, at: theirs.createdAt.toISOString(), reason: theirs.reason }
      : null,
  };
  const changed = `${input.subject} after you loaded ${input.it}`;
  return new TRPCError({
    code: "CONFLICT",
    message: theirs
      ? `${theirs.userEmail} saved ${changed}; review their change and reload.`
      : `${input.subject.charAt(0).toUpperCase()}${input.subject.slice(1)} changed after you loaded ${input.it}; review the change and reload.`,
    cause: new PolicyConflict(details),
  });
}
