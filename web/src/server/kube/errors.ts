/**
 * Typed errors of the dashboard's Kubernetes layer. tRPC routers map them:
 * `KubeApiError` by its `status` (403 → FORBIDDEN, 404 → NOT_FOUND, 409 →
 * CONFLICT), the others to BAD_REQUEST naming `field`.
 */
import { ApiException } from "@kubernetes/client-node";

/**
 * Neither KUBECONFIG nor an in-cluster ServiceAccount is available, or
 * KUBECONFIG is unusable: the daemons' one error type, whose message says
 * what to set.
 */
export { KubeConfigError } from "@turgon/toolkit/daemon";

/** A principal that cannot be impersonated as given (a malformed email or team name). */
export class PrincipalError extends Error {
  readonly field: "email" | "teams";

  constructor(field: "email" | "teams", message: string) {
    super(`${field}: ${message}`);
    this.name = "PrincipalError";
    this.field = field;
  }
}

export type TeamBindingReason =
  /** A team or namespace name that is not a DNS label. */
  | "InvalidName"
  | "NamespaceNotFound"
  /** The namespace is bound to another team: unbind it there first. */
  | "BoundToAnotherTeam"
  /** A RoleBinding of that name exists and grants something else: left alone. */
  | "RoleBindingConflict";

/** Binding or unbinding a namespace was refused before anything changed (or was rolled back). */
export class TeamBindingError extends Error {
  readonly field: "team" | "namespace";
  readonly reason: TeamBindingReason;

  constructor(field: "team" | "namespace", reason: TeamBindingReason, message: string) {
    super(`${field}: ${message}`);
    this.name = "TeamBindingError";
    this.field = field;
    this.reason = reason;
  }
}

/** What the API server answered, from its Status body: 403 is RBAC's (or admission's) refusal. */
export class KubeApiError extends Error {
  readonly status: number;
  /** The Status reason: Forbidden, NotFound, AlreadyExists, Conflict, Invalid, … */
  readonly reason: string;

  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }

  /** The API server's answer in `error`, or `error` itself when it is not one. */
  static from(error: unknown): KubeApiError | unknown {
    if (error instanceof KubeApiError || !(error instanceof ApiException)) return error;
    const body = parseStatus(error.body);
    return new KubeApiError(
      error.code,
      body.reason ?? (error.code === 401 ? "Unauthorized" : "Unknown"),
      body.message ?? `the API server answered ${error.code}`,
      { cause: error },
    );
  }
}

function parseStatus(body: unknown): { reason?: string; message?: string } {
  try {
    const status = (typeof body === "string" ? JSON.parse(body) : body) as {
      reason?: unknown;
      message?: unknown;
    } | null;
    return {
      ...(typeof status?.reason === "string" ? { reason: status.reason } : {}),
      ...(typeof status?.message === "string" ? { message: status.message } : {}),
    };
  } catch {
    return {};
  }
}

/** The HTTP status of an API server error (ApiException or KubeApiError), if it is one. */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof KubeApiError) return error.status;
  if (error instanceof ApiException) return error.code;
  return undefined;
}

/** Runs an API call and rethrows what the API server answered as a KubeApiError. */
export async function kubeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw KubeApiError.from(error);
  }
}
