/**
 * A tRPC error as a form shows it: messages per field (the server's zod
 * field errors, see server/api/errors.ts) and, when no field is named, one
 * message for the whole form.
 */
export interface FormErrors {
  fields: Record<string, string | undefined>;
  message?: string;
}

interface ErrorWithData {
  message?: unknown;
  data?: { zodError?: { fieldErrors?: Record<string, string[] | undefined> } | null } | null;
}

export function formErrors(error: unknown): FormErrors {
  if (!error) return { fields: {} };
  const { data, message } = error as ErrorWithData;
  const fields: Record<string, string | undefined> = {};
  for (const [field, messages] of Object.entries(data?.zodError?.fieldErrors ?? {}))
    if (messages?.[0]) fields[field] = messages[0];
  if (Object.keys(fields).length > 0) return { fields };
  return {
    fields,
    message: typeof message === "string" && message ? message : "Something went wrong; try again.",
  };
}

/** `is required` under "Slug" reads "Slug is required"; a whole sentence stays as it is. */
export function fieldMessage(label: string, message: string | undefined): string | undefined {
  if (!message) return undefined;
  return /^[a-z]/.test(message) ? `${label} ${message}` : message;
}
