/**
 * Field issues of a policy's rules, keyed as the API server keys them
 * (`spec.allowedHosts[1]`), from the zod schema and from a dry-run at the
 * API server (its OpenAPI schema and CEL rules), so a form shows both next
 * to the same field.
 */
import { ApiException } from "@kubernetes/client-node";
import { TRPCError } from "@trpc/server";
import { SandboxPolicySpec } from "@turgon/api/crd";
import { ZodRealError } from "zod";
import { KubeApiError } from "../kube/errors.ts";
import { fieldCauses } from "../kube-errors.ts";

export interface FieldIssue {
  /** The API server's field path: `spec.deniedCIDRs[0]`; "" for the object itself. */
  field: string;
  message: string;
  /**
   * schema: the zod schema in @turgon/api; apiserver: the API server's
   * dry-run (OpenAPI, CEL); policy: what the operator would refuse (a
   * sandbox's inline rule relaxing a policy that allows no overrides).
   */
  source: "schema" | "apiserver" | "policy";
}

/** A zod path as the API server spells it: spec.a.b[0].c */
export function fieldPath(path: readonly PropertyKey[], prefix = "spec"): string {
  let out = prefix;
  for (const part of path)
    out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
  return out;
}

/** The rules' issues under SandboxPolicySpec (empty when valid). */
export function schemaIssues(spec: unknown): FieldIssue[] {
  const parsed = SandboxPolicySpec.safeParse(spec);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => ({
    field: fieldPath(issue.path),
    message: issue.message,
    source: "schema" as const,
  }));
}

/** The field causes of a 422 from the API server, or undefined for any other error. */
export function apiServerIssues(error: unknown): FieldIssue[] | undefined {
  const status =
    error instanceof KubeApiError ? error.status : error instanceof ApiException ? error.code : 0;
  if (status !== 422) return undefined;
  const causes = fieldCauses(error);
  if (causes.length === 0)
    return [{ field: "", message: (error as Error).message, source: "apiserver" }];
  return causes.map(({ field, message }) => ({ field, message, source: "apiserver" as const }));
}

/** Schema and API server issues together, one per field and message. */
export function mergeIssues(...lists: FieldIssue[][]): FieldIssue[] {
  const seen = new Set<string>();
  const out: FieldIssue[] = [];
  for (const issue of lists.flat()) {
    const key = `${issue.field}\u0000${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}

/** BAD_REQUEST whose `data.zodError.fieldErrors` holds the issues by field path. */
export function invalid(issues: FieldIssue[]): TRPCError {
  const first = issues[0];
  return new TRPCError({
    code: "BAD_REQUEST",
    message: first
      ? `${first.field ? `${first.field}: ` : ""}${first.message}`
      : "the rules are invalid",
    cause: new ZodRealError(
      issues.map((issue) => ({
        code: "custom" as const,
        path: issue.field ? [issue.field] : [],
        message: issue.message,
        input: undefined,
      })),
    ),
  });
}
