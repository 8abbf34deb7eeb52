import { getDb } from "~/server/db";

/** Liveness and readiness for `npm run up`, tests and Kubernetes probes: the database answers. */
export async function GET(): Promise<Response> {
  try {
    await getDb().$queryRaw`SELECT 1`;
    return new Response("ok\n", { headers: { "content-type": "text/plain" } });
  } catch {
    return new Response("database unreachable\n", {
      status: 503,
      headers: { "content-type": "text/plain" },
    });
  }
}
