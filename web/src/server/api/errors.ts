/**
 * Turning what the dashboard's parts refuse into tRPC errors a form can
 * show next to the right field: the error formatter (trpc.ts) flattens a
 * ZodError cause into `data.zodError.fieldErrors`, so a field error is a
 * TRPCError whose cause is a one-issue ZodError naming the field.
 */

import { type TRPC_ERROR_CODE_KEY, TRPCError } from "@trpc/server";
import { isAPIError } from "better-auth/api";
import { ZodRealError } from "zod";
import { TeamBindingError } from "../kube/index.ts";
import { toTRPCError } from "../kube-errors.ts";

export function fieldError(code: TRPC_ERROR_CODE_KEY, field: string, message: string): TRPCError {
  return new TRPCError({
    code,
    message,
    // ZodRealError, not ZodError: in zod 4 only the former is an Error, which tRPC keeps as the cause.
    cause: new ZodRealError([{ code: "custom", path: [field], message, input: undefined }]),
  });
}

/** A better-auth refusal: its status and message, or undefined when `error` is something else. */
export function authRefusal(
  error: unknown,
): { status: number; code: string | undefined; message: string } | undefined {
  if (!isAPIError(error)) return undefined;
  const body = (error.body ?? {}) as { code?: string; message?: string };
  return { status: error.statusCode, code: body.code, message: body.message ?? error.message };
}

/**
 * What Kubernetes (or the kube layer) refused, for the user: a binding
 * refused before anything changed as an error on its field; what the API
 * server answered as toTRPCError maps it (RBAC's 403 as FORBIDDEN, 422 with
 * its field causes); an API server that could not be reached as BAD_GATEWAY.
 */
export function kubeError(
  error: unknown,
  fields: { team?: string; namespace?: string } = {},
): TRPCError {
  if (error instanceof TeamBindingError) {
    const code: TRPC_ERROR_CODE_KEY =
      error.reason === "NamespaceNotFound"
        ? "NOT_FOUND"
        : error.reason === "InvalidName"
          ? "BAD_REQUEST"
          : "CONFLICT";
    const field =
      error.field === "team" ? (fields.team ?? "team") : (fields.namespace ?? "namespace");
    // The kube layer prefixes its field; the form shows the message under that field already.
    return fieldError(code, field, capitalize(error.message.replace(/^(team|namespace): /, "")));
  }
  // Everything the API server answered maps one way, wherever it was asked (kube-errors.ts).
  const mapped = toTRPCError(error);
  if (mapped instanceof TRPCError) return mapped;
  return new TRPCError({
    code: "BAD_GATEWAY",
    message: "The Kubernetes API server could not be reached.",
    cause: error,
  });
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
