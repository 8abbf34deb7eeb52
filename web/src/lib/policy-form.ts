/**
 * The policy editor's model: the rules as a plain object (what the YAML
 * view shows), client-side issues from the same zod schema the CRD's rules
 * come from, keyed as the API server keys fields (`spec.allowedHosts[1]`),
 * and the YAML round trip (a parse error names its line).
 */
import { SandboxPolicySpec } from "@turgon/api/crd";
import { parse, stringify } from "yaml";

export type Spec = Record<string, unknown>;
export type FieldErrors = Record<string, string[]>;

export const METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
] as const;

export interface SecretRow {
  name: string;
  hosts: string[];
  secretKeyRef: { name: string; key: string };
}

export function fieldKey(path: readonly PropertyKey[]): string {
  let key = "spec";
  for (const segment of path)
    key += typeof segment === "number" ? `[${segment}]` : `.${String(segment)}`;
  return key;
}

/** The schema's issues by field (empty when the rules are valid). */
export function clientIssues(spec: Spec): FieldErrors {
  const parsed = SandboxPolicySpec.safeParse(spec);
  if (parsed.success) return {};
  const out: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const key = fieldKey(issue.path);
    out[key] = [...(out[key] ?? []), issue.message];
  }
  return out;
}

export function toYaml(spec: Spec): string {
  return Object.keys(spec).length === 0 ? "{}\n" : stringify(spec, { lineWidth: 0 });
}

/** The YAML text as rules, or the error naming where it is wrong. */
export function fromYaml(text: string): { spec: Spec } | { error: string } {
  try {
    const value = parse(text, { prettyErrors: true }) as unknown;
    if (value === null || value === undefined) return { spec: {} };
    if (typeof value !== "object" || Array.isArray(value))
      return { error: "The YAML must be a mapping of fields (allowedHosts:, deniedMethods:, …)." };
    return { spec: value as Spec };
  } catch (error) {
    const e = error as { message?: string; linePos?: { line: number; col: number }[] };
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : "";
    const first = (e.message ?? "cannot be read").split("\n")[0] ?? "";
    return { error: `YAML ${where}${first.replace(/ at line \d+, column \d+:?$/, "")}` };
  }
}

/** Sets a field, removing it when `value` is undefined or an empty list (the rule's default). */
export function withField(spec: Spec, field: string, value: unknown): Spec {
  const next = { ...spec };
  if (value === undefined || (Array.isArray(value) && value.length === 0)) delete next[field];
  else next[field] = value;
  return next;
}

export const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.map((v) => (typeof v === "string" ? v : String(v))) : [];

export function secretsOf(spec: Spec): SecretRow[] {
  const list = Array.isArray(spec.secrets) ? spec.secrets : [];
  return list.map((s) => {
    const row = (s ?? {}) as Partial<SecretRow>;
    return {
      name: typeof row.name === "string" ? row.name : "",
      hosts: strings(row.hosts),
      secretKeyRef: {
        name: typeof row.secretKeyRef?.name === "string" ? row.secretKeyRef.name : "",
        key: typeof row.secretKeyRef?.key === "string" ? row.secretKeyRef.key : "",
      },
    };
  });
}

/** React Query's retry for the policy pages: never again after a refusal or a missing object. */
export function retryUnlessRefused(failures: number, error: unknown): boolean {
  const code = (error as { data?: { code?: string } } | null)?.data?.code;
  if (code && ["FORBIDDEN", "NOT_FOUND", "UNAUTHORIZED", "BAD_REQUEST"].includes(code))
    return false;
  return failures < 2;
}
