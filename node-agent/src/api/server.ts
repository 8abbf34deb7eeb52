import { timingSafeEqual } from "node:crypto";
import websocket from "@fastify/websocket";
import {
  AGENT_API_PREFIX,
  type AgentEvent,
  DesiredSandbox,
  describeFieldErrors,
  EffectivePolicy,
  fieldErrors,
  sandboxUid,
} from "@turgon/api/agent";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import type { z } from "zod";
import { registerExecRoutes } from "../exec/routes.ts";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics/metrics.ts";
import { CapacityError, type SandboxManager } from "../sandboxes/manager.ts";
import { registerSshRoutes } from "../ssh/routes.ts";

export interface ApiServerOptions {
  manager: SandboxManager;
  token: string;
  log: Logger;
  metrics: AgentMetrics;
  /** Serve over TLS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

const STATUS_BY_OUTCOME = { created: 201, unchanged: 200, updated: 200, rebooting: 202 } as const;

function tokensMatch(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function invalid(reply: FastifyReply, error: string, zodError: z.ZodError) {
  return reply
    .code(400)
    .send({ error, message: describeFieldErrors(zodError), fields: fieldErrors(zodError) });
}

/** The agent API: desired state in, observed state and events out; bearer-token auth. */
export async function buildApiServer({
  manager,
  token,
  log,
  metrics,
  tls,
}: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(tls ? { https: tls } : {}),
    loggerInstance: log.child({ component: "agent-api" }) as FastifyBaseLogger,
    bodyLimit: 1 << 20,
    // Shutdown must not wait on idle or stray clients (event streams, sockets).
    forceCloseConnections: true,
    // One line per request is noise at agent scale; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async () => ({ status: "ok" }));
  app.get("/metrics", async (_request, reply) =>
    reply
      .header("content-type", metrics.registry.contentType)
      .send(await metrics.registry.metrics()),
  );

  app.addHook("onRequest", async (request, reply) => {
    if (!request.url.startsWith(`${AGENT_API_PREFIX}/`)) return;
    const header = request.headers.authorization ?? "";
    const presented = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    if (!presented || !tokensMatch(presented, token)) {
      // A refused WebSocket upgrade leaves no HTTP connection to finish: end its socket.
      if (request.headers.upgrade) reply.raw.once("finish", () => request.raw.socket.destroy());
      return reply
        .code(401)
        .header("www-authenticate", "Bearer")
        .send({ error: "Unauthorized", message: "missing or invalid bearer token" });
    }
  });

  app.setErrorHandler((error, _request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) log.error({ err: error }, "agent API error");
    const message = error instanceof Error ? error.message : String(error);
    return reply.code(status).send({ error: status >= 500 ? "Internal" : "BadRequest", message });
  });

  const parseUid = (reply: FastifyReply, raw: string) => {
    const uid = sandboxUid.safeParse(raw);
    if (!uid.success) {
      void reply
        .code(400)
        .send({ error: "InvalidUid", message: `uid: ${uid.error.issues[0]?.message}` });
      return undefined;
    }
    return uid.data;
  };

  app.put<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid`,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      const desired = DesiredSandbox.safeParse(request.body);
      if (!desired.success) return invalid(reply, "InvalidSandbox", desired.error);
      if (desired.data.uid !== uid) {
        return reply.code(400).send({
          error: "InvalidSandbox",
          message: `uid: ${desired.data.uid} does not match the URL's ${uid}`,
        });
      }
      try {
        const { outcome, sandbox } = await manager.put(desired.data);
        return reply.code(STATUS_BY_OUTCOME[outcome]).send({ outcome, sandbox });
      } catch (error) {
        if (error instanceof CapacityError)
          return reply.code(409).send({ error: "NodeFull", message: error.message });
        throw error;
      }
    },
  );

  app.put<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid/policy`,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      const existing = manager.get(uid);
      if (!existing)
        return reply
          .code(404)
          .send({ error: "NotFound", message: `no sandbox ${uid} on this node` });
      const policy = EffectivePolicy.safeParse(request.body);
      if (!policy.success) return invalid(reply, "InvalidPolicy", policy.error);
      const { outcome, sandbox } = await manager.put({ ...existing.desired, policy: policy.data });
      return reply.code(STATUS_BY_OUTCOME[outcome]).send({ outcome, sandbox });
    },
  );

  app.get(`${AGENT_API_PREFIX}/sandboxes`, async () => ({ items: manager.list() }));

  app.get<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid`,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      const sandbox = manager.get(uid);
      if (!sandbox)
        return reply
          .code(404)
          .send({ error: "NotFound", message: `no sandbox ${uid} on this node` });
      return sandbox.observe();
    },
  );

  app.delete<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid`,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      if (!(await manager.delete(uid)))
        return reply
          .code(404)
          .send({ error: "NotFound", message: `no sandbox ${uid} on this node` });
      return { deleted: uid };
    },
  );

  // WebSockets for exec sessions and SSH tunnels; a frame carries at most 1 MiB.
  await app.register(websocket, { options: { maxPayload: 1 << 20 } });
  registerExecRoutes(app, manager, log.child({ component: "exec" }));
  registerSshRoutes(app, manager, log.child({ component: "ssh" }));

  /** Newline-delimited JSON: the current state of every sandbox, then each change as it happens. */
  app.get(`${AGENT_API_PREFIX}/events`, (request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "application/x-ndjson",
      "cache-control": "no-cache",
    });
    const write = (event: AgentEvent) => reply.raw.write(`${JSON.stringify(event)}\n`);
    const now = new Date().toISOString();
    for (const sandbox of manager.list()) write({ type: "sandbox", sandbox, time: now });
    manager.on("event", write);
    request.raw.on("close", () => manager.off("event", write));
  });

  return app;
}
