/**
 * What the API server said, as a tRPC error the browser can act on. The
 * dashboard decides nothing itself: a refusal is Kubernetes RBAC's (403 →
 * FORBIDDEN), a missing object is NOT_FOUND, and an invalid one (422: the
 * CRD's OpenAPI schema or a CEL rule) is BAD_REQUEST carrying the API
 * server's message and its field causes. Field causes travel as a ZodError,
 * so forms read them where they read input errors: `data.zodError.fieldErrors`,
 * keyed by the API server's field path (`spec.ingress.routes[0].prefix`).
 */
import { ApiException } from "@kubernetes/client-node";
import { TRPCError } from "@trpc/server";
import { type ZodError, ZodRealError } from "zod";
import { KubeApiError, KubeConfigError, PrincipalError } from "./kube/index.ts";

/** One entry of a Status's details.causes. */
export interface FieldCause {
  field: string;
  message: string;
  reason?: string;
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

/**
 * The Status body behind an API error: KubeApiError keeps the message and
 * reason, but not details.causes, which are read here from the original
 * ApiException it wraps (its `cause`).
 */
function statusBody(error: unknown): StatusBody | undefined {
  const exception =
    error instanceof ApiException
      ? error
      : error instanceof KubeApiError && error.cause instanceof ApiException
        ? error.cause
        : undefined;
  if (!exception) return undefined;
  try {
    const body = typeof exception.body === "string" ? JSON.parse(exception.body) : exception.body;
    return body && typeof body === "object" ? (body as StatusBody) : undefined;
  } catch {
    return undefined;
  }
}

/** The field causes of an API server refusal (422 Invalid, 409 AlreadyExists has none). */
export function fieldCauses(error: unknown): FieldCause[] {
  const causes = statusBody(error)?.details?.causes ?? [];
  return causes
    .filter((cause) => typeof cause.message === "string")
    .map((cause) => ({
      // CEL rules on an object with no field path report "<nil>" or nothing: the object itself.
      field: cause.field && cause.field !== "<nil>" ? cause.field : "",
      message: cause.message as string,
      ...(cause.reason ? { reason: cause.reason } : {}),
    }));
}

/** Field errors as a ZodError: `path` is one segment, the API server's field path. */
export function fieldErrors(causes: readonly FieldCause[]): ZodError {
  return new ZodRealError(
    causes.map((cause) => ({
      code: "custom" as const,
      path: cause.field ? [cause.field] : [],
      message: cause.message,
      input: undefined,
    })),
  );
}

const CODES: Record<number, TRPCError["code"]> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  410: "CONFLICT",
  422: "BAD_REQUEST",
  429: "TOO_MANY_REQUESTS",
};

/**
 * Rethrows an error from the Kubernetes layer as a TRPCError with the API
 * server's own message; anything else passes through (a 500, logged).
 * `options.field` names the input field a 409 AlreadyExists is about.
 */
export function toTRPCError(error: unknown, options: { conflictField?: string } = {}): unknown {
  if (error instanceof TRPCError) return error;
  if (error instanceof KubeApiError || error instanceof ApiException) {
    const status = error instanceof KubeApiError ? error.status : error.code;
    const message =
      error instanceof KubeApiError
        ? error.message
        : (statusBody(error)?.message ?? `the API server answered ${status}`);
    const code = CODES[status] ?? (status >= 500 ? "BAD_GATEWAY" : "BAD_REQUEST");
    let causes = fieldCauses(error);
    if (status === 409 && options.conflictField && causes.length === 0)
      causes = [{ field: options.conflictField, message, reason: "AlreadyExists" }];
    return new TRPCError({
      code,
      message,
      cause: causes.length > 0 ? fieldErrors(causes) : error,
    });
  }
  if (error instanceof PrincipalError)
    // A session whose email or team slug cannot become impersonation headers.
    return new TRPCError({ code: "FORBIDDEN", message: error.message, cause: error });
  if (error instanceof KubeConfigError)
    return new TRPCError({
      code: "INTERNAL_SERVER_ERROR",
      message: error.message,
      cause: error,
    });
  return error;
}

/** Runs a Kubernetes call, mapping what the API server answered (see toTRPCError). */
export async function asTRPC<T>(
  call: () => Promise<T>,
  options: { conflictField?: string } = {},
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toTRPCError(error, options);
  }
}
