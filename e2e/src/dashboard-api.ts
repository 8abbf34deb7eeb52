/**
 * The dashboard's HTTP API as a test (or a script) calls it: sign in through
 * better-auth for a session cookie, then call tRPC procedures with it, the
 * way the browser's client does (superjson-wrapped JSON).
 */
import assert from "node:assert/strict";

export interface Session {
  email: string;
  /** The Cookie header that carries the session. */
  cookie: string;
}

/** Signs in with email and password; fails the test if the dashboard refuses. */
export async function signIn(baseUrl: string, email: string, password: string): Promise<Session> {
  const response = await fetch(`${baseUrl}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: baseUrl },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(response.status, 200, `sign-in as ${email}: ${await response.clone().text()}`);
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  assert.match(cookie, /session_token=/, "sign-in set no session cookie");
  return { email, cookie };
}

export interface TrpcResult<T> {
  status: number;
  data?: T;
  error?: { code: string; message: string; fieldErrors?: Record<string, string[] | undefined> };
}

/** Calls one tRPC procedure (unbatched): a query with GET, a mutation with POST. */
export async function trpc<T = unknown>(
  baseUrl: string,
  session: Session | undefined,
  path: string,
  options: { input?: unknown; mutation?: boolean } = {},
): Promise<TrpcResult<T>> {
  const input = options.input === undefined ? undefined : JSON.stringify({ json: options.input });
  const url = new URL(`${baseUrl}/api/trpc/${path}`);
  if (!options.mutation && input !== undefined) url.searchParams.set("input", input);
  const response = await fetch(url, {
    method: options.mutation ? "POST" : "GET",
    headers: {
      ...(session ? { cookie: session.cookie } : {}),
      ...(options.mutation ? { "content-type": "application/json", origin: baseUrl } : {}),
    },
    ...(options.mutation ? { body: input ?? "{}" } : {}),
  });
  const body = (await response.json()) as {
    result?: { data: { json: T } };
    error?: {
      json: {
        message: string;
        data: { code: string; zodError?: { fieldErrors?: Record<string, string[]> } | null };
      };
    };
  };
  if (body.error)
    return {
      status: response.status,
      error: {
        code: body.error.json.data.code,
        message: body.error.json.message,
        ...(body.error.json.data.zodError?.fieldErrors
          ? { fieldErrors: body.error.json.data.zodError.fieldErrors }
          : {}),
      },
    };
  return { status: response.status, data: body.result?.data.json as T };
}

/** A tRPC call that must succeed: its data, or a failed assertion with the error. */
export async function ok<T>(result: Promise<TrpcResult<T>>): Promise<T> {
  const { status, data, error } = await result;
  assert.equal(status, 200, `tRPC failed: ${JSON.stringify(error)}`);
  return data as T;
}
