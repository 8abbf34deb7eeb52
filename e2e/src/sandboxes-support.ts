/**
 * Helpers of the sandbox dashboard tests: users made the way `npm run up`
 * makes the first admin (better-auth's admin API on the dashboard's
 * database), sessions signed in over HTTP as a browser would, tRPC calls
 * by hand (what a client bypassing the UI sends), SSE read off the wire,
 * and namespaces bound to teams with kubectl as an admin would.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEAM_LABEL } from "@turgon/api/routing";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import { createPrismaClient } from "@turgon/prisma";
import { createAuth } from "@turgon/web/auth";
import pino from "pino";

export const WEB_RBAC = new URL("../../web/deploy/rbac.yaml", import.meta.url).pathname;

/** kubectl as the platform's admin; fails the test with its output. */
export async function must(args: string[]): Promise<string> {
  const result = await kubectl(args);
  assert.equal(result.exitCode, 0, `kubectl ${args.join(" ")}: ${result.tail}`);
  return result.stdout;
}

/** Applies a manifest (the test platform's kubectl takes no stdin). */
export async function apply(object: unknown, verb: "apply" | "create" = "apply"): Promise<void> {
  const file = join(tmpdir(), `${uniqueName("manifest")}.json`);
  await writeFile(file, JSON.stringify(object));
  await must([verb, "-f", file]);
}

/**
 * Binds `namespace` to `team` as the dashboard's teams page does: the
 * turgon.dev/team label, a RoleBinding of turgon-team-member for the
 * team's group and one of turgon-team-owner for its owners' group.
 */
export async function bindNamespace(namespace: string, team: string): Promise<void> {
  await must(["label", "namespace", namespace, `${TEAM_LABEL}=${team}`, "--overwrite"]);
  await apply({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `turgon-team-${team}`, namespace },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "turgon-team-member",
    },
    subjects: [
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: `turgon:team:${team}` },
    ],
  });
  await apply({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `turgon-team-owner-${team}`, namespace },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "turgon-team-owner",
    },
    subjects: [
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: `turgon:team-owner:${team}` },
    ],
  });
}

/**
 * A user (not an admin) of a team with a role, made through better-auth's
 * admin API on the dashboard's database, as `npm run up` makes the admin.
 * The team is made (by the admin) when it does not exist yet.
 */
export async function addTeamUser(
  dashboard: TestDashboard,
  user: { email: string; password: string; name: string; team: string; role: "member" | "owner" },
): Promise<void> {
  const prisma = createPrismaClient(dashboard.databaseUrl);
  try {
    const auth = createAuth({
      prisma,
      secret: "only-hashes-passwords-here-not-sessions-0123456789",
      baseURL: dashboard.url,
      logger: pino({ name: "test-users", level: "warn" }),
    });
    const created = await auth.api.createUser({
      body: { email: user.email, password: user.password, name: user.name, role: "user" },
    });
    let team = await prisma.organization.findUnique({ where: { slug: user.team } });
    if (!team) {
      const admin = await prisma.user.findUniqueOrThrow({
        where: { email: dashboard.admin.email },
        select: { id: true },
      });
      await auth.api.createOrganization({
        body: { name: user.team, slug: user.team, userId: admin.id },
      });
      team = await prisma.organization.findUniqueOrThrow({ where: { slug: user.team } });
    }
    await auth.api.addMember({
      body: { userId: created.user.id, role: user.role, organizationId: team.id },
    });
  } finally {
    await prisma.$disconnect();
  }
}

/** A plain member of a team (made if new). */
export function createMember(
  dashboard: TestDashboard,
  member: { email: string; password: string; name: string; team: string },
): Promise<void> {
  return addTeamUser(dashboard, { ...member, role: "member" });
}

/** Signs in over HTTP as the sign-in page does; the session cookie to send. */
export async function signIn(url: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const cookies = response.headers.getSetCookie().map((cookie) => cookie.split(";")[0]);
  assert.ok(cookies.length > 0, "sign-in set no cookie");
  return cookies.join("; ");
}

export interface TrpcAnswer {
  status: number;
  /** The result's data (superjson's `json`), when it succeeded. */
  data?: unknown;
  error?: {
    message: string;
    code: string;
    httpStatus: number;
    zodError: { formErrors: string[]; fieldErrors: Record<string, string[]> } | null;
  };
}

async function answer(response: Response): Promise<TrpcAnswer> {
  const body = (await response.json()) as {
    result?: { data: { json: unknown } };
    error?: { json: { message: string; data: Record<string, unknown> } };
  };
  if (body.error)
    return {
      status: response.status,
      error: {
        message: body.error.json.message,
        code: body.error.json.data.code as string,
        httpStatus: body.error.json.data.httpStatus as number,
        zodError: (body.error.json.data.zodError ?? null) as NonNullable<
          TrpcAnswer["error"]
        >["zodError"],
      },
    };
  return { status: response.status, data: body.result?.data.json };
}

/** A tRPC query by hand (superjson-encoded input), as any HTTP client may send it. */
export async function trpcQuery(
  url: string,
  cookie: string | undefined,
  path: string,
  input?: unknown,
): Promise<TrpcAnswer> {
  const query =
    input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
  const response = await fetch(`${url}/api/trpc/${path}${query}`, {
    headers: cookie ? { cookie } : {},
  });
  return answer(response);
}

/** A tRPC mutation by hand. */
export async function trpcMutation(
  url: string,
  cookie: string | undefined,
  path: string,
  input: unknown,
): Promise<TrpcAnswer> {
  const response = await fetch(`${url}/api/trpc/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}) },
    body: JSON.stringify({ json: input }),
  });
  return answer(response);
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/**
 * A tRPC subscription read off the wire: GET …?input=… with
 * `text/event-stream`, the browser's EventSource request. `lastEventId`
 * goes as the Last-Event-ID header, as EventSource sends it on a reconnect.
 */
export async function openSse(
  url: string,
  cookie: string,
  path: string,
  input: unknown,
  options: { lastEventId?: string } = {},
): Promise<{ next(timeoutMs?: number): Promise<SseEvent>; close(): void }> {
  const abort = new AbortController();
  const response = await fetch(
    `${url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`,
    {
      headers: {
        cookie,
        accept: "text/event-stream",
        ...(options.lastEventId ? { "last-event-id": options.lastEventId } : {}),
      },
      signal: abort.signal,
    },
  );
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = (response.body as ReadableStream<Uint8Array>)
    .pipeThrough(new TextDecoderStream())
    .getReader();
  let buffer = "";
  const queue: SseEvent[] = [];
  const fill = async (deadline: number) => {
    while (queue.length === 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error("no SSE event in time");
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), remaining);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk === "timeout") throw new Error("no SSE event in time");
      if (chunk.done) throw new Error("the SSE stream ended");
      buffer += chunk.value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { data: "" };
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") event.id = value;
          else if (field === "event") event.event = value;
          else if (field === "data") data.push(value);
        }
        event.data = data.join("\n");
        if (block.trim()) queue.push(event);
        end = buffer.indexOf("\n\n");
      }
    }
  };
  return {
    async next(timeoutMs = 20_000) {
      await fill(Date.now() + timeoutMs);
      return queue.shift() as SseEvent;
    },
    close: () => abort.abort(),
  };
}
