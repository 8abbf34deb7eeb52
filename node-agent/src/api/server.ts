import websocket from "@fastify/websocket";
import {
  AGENT_API_PREFIX,
  type AgentCaller,
  type AgentEvent,
  DesiredWarmPool,
  describeFieldErrors,
  EffectivePolicy,
  fieldErrors,
  sandboxUid,
} from "@turgon/api/agent";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import { ZodError, type z } from "zod";
import { registerExecRoutes } from "../exec/routes.ts";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics/metrics.ts";
import { CapacityError, type SandboxManager } from "../sandboxes/manager.ts";
import { type FieldError, validateDesired } from "../sandboxes/validate.ts";
import { registerSshRoutes } from "../ssh/routes.ts";
import { type CallerAuthentication, identifyCaller, OPERATOR } from "./auth.ts";
import { type AgentTls, tlsServerOptions } from "./tls.ts";

export interface ApiServerOptions {
  manager: SandboxManager;
  auth: CallerAuthentication;
  log: Logger;
  metrics: AgentMetrics;
  /** Serve over TLS with this certificate and key, asking callers for certificates signed by `ca`. */
  tls?: AgentTls;
}

/** One route of the API and who may call it: what the access tests walk. */
export interface AgentRoute {
  method: string;
  url: string;
  callers: readonly AgentCaller[] | "anyone";
}

export interface ApiServer {
  app: FastifyInstance;
  routes: AgentRoute[];
}

/** Remembers the last `max` keys; add() says whether a key is new. */
class BoundedSet {
  private readonly keys = new Set<string>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value as string);
    return true;
  }
}

const STATUS_BY_OUTCOME = { created: 201, unchanged: 200, updated: 200, rebooting: 202 } as const;

/** A 400 naming each field at fault: from the schema's errors, or the agent's own checks. */
function invalid(
  reply: FastifyReply,
  error: string,
  problem: z.ZodError | { message: string; fields: FieldError[] },
) {
  const { message, fields } =
    problem instanceof ZodError
      ? { message: describeFieldErrors(problem), fields: fieldErrors(problem) }
      : problem;
  return reply.code(400).send({ error, message, fields });
}

/** Refuses a request; a refused WebSocket upgrade has no HTTP exchange to finish, so its socket ends. */
function deny(request: FastifyRequest, reply: FastifyReply, status: 401 | 403, message: string) {
  if (request.headers.upgrade) reply.raw.once("finish", () => request.raw.socket.destroy());
  if (status === 401) void reply.header("www-authenticate", "Bearer");
  return reply.code(status).send({ error: STATUS_NAMES[status], message });
}
const STATUS_NAMES = { 401: "Unauthorized", 403: "Forbidden" } as const;

/**
 * The agent API: desired state in, observed state and events out.
 * Every route says who may call it (`config.callers`); the check runs on the
 * route that actually matched, so encoded, absolute-form or dot-segment
 * spellings of a path meet the same check, and a route that says nothing
 * is closed to everyone.
 */
export async function buildApiServer({
  manager,
  auth,
  log,
  metrics,
  tls,
}: ApiServerOptions): Promise<ApiServer> {
  const app = Fastify({
    ...(tls ? { https: tlsServerOptions(tls) } : {}),
    loggerInstance: log.child({ component: "agent-api" }) as FastifyBaseLogger,
    bodyLimit: 1 << 20,
    // Shutdown must not wait on idle or stray clients (event streams, sockets).
    forceCloseConnections: true,
    // One line per request is noise at agent scale; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  const routes: AgentRoute[] = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat())
      routes.push({ method, url: route.url, callers: route.config?.callers ?? [] });
  });

  app.addHook("onRequest", async (request, reply) => {
    const allowed = request.routeOptions.config?.callers;
    if (allowed === "anyone") return;
    const caller = identifyCaller(request.raw, auth);
    if (!caller)
      return deny(
        request,
        reply,
        401,
        auth.mode === "certificate"
          ? "a control-plane client certificate is required"
          : "missing or invalid bearer token",
      );
    // No route matched: a known caller gets the 404; nobody else learns which paths exist.
    if (request.routeOptions.url === undefined) return;
    if (!allowed?.includes(caller))
      return deny(request, reply, 403, `the ${caller} may not call ${request.routeOptions.url}`);
  });

  const open = { config: { callers: "anyone" as const } };
  app.get("/healthz", open, async () => ({ status: "ok" }));
  app.get("/readyz", open, async () => ({ status: "ok" }));
  app.get("/metrics", open, async (_request, reply) =>
    reply
      .header("content-type", metrics.registry.contentType)
      .send(await metrics.registry.metrics()),
  );

  // An unexpected error answers 500 with a short message; its stack goes to the log once per
  // sandbox generation, not on every retry of the operator's.
  const logged = new BoundedSet(1000);
  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    const message = error instanceof Error ? error.message : String(error);
    if (status < 500) return reply.code(status).send({ error: "BadRequest", message });
    const body = request.body as { uid?: unknown; generation?: unknown } | undefined;
    const key = `${request.method} ${request.routeOptions.url} ${String(body?.uid)} ${String(body?.generation)}`;
    if (logged.add(key))
      log.error({ err: error, route: request.routeOptions.url }, "agent API error");
    return reply
      .code(500)
      .send({ error: "Internal", message: message.split("\n")[0]?.slice(0, 300) });
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

  const operator = { config: { callers: OPERATOR } };
  app.put<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid`,
    operator,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      const desired = validateDesired(request.body);
      if (!desired.ok) return invalid(reply, "InvalidSandbox", desired);
      if (desired.desired.uid !== uid) {
        return reply.code(400).send({
          error: "InvalidSandbox",
          message: `uid: ${desired.desired.uid} does not match the URL's ${uid}`,
        });
      }
      try {
        const { outcome, sandbox } = await manager.put(desired.desired);
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
    operator,
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
      const checked = validateDesired({ ...existing.desired, policy: policy.data });
      if (!checked.ok) return invalid(reply, "InvalidPolicy", checked);
      const { outcome, sandbox } = await manager.put(checked.desired);
      return reply.code(STATUS_BY_OUTCOME[outcome]).send({ outcome, sandbox });
    },
  );

  app.get(`${AGENT_API_PREFIX}/sandboxes`, operator, async () => ({ items: manager.list() }));

  app.get<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid`,
    operator,
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
    operator,
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

  const WARM_STATUS = { created: 201, unchanged: 200, updated: 200 } as const;
  app.put<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/warm-pools/:uid`,
    operator,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      const desired = DesiredWarmPool.safeParse(request.body);
      if (!desired.success) return invalid(reply, "InvalidWarmPool", desired.error);
      if (desired.data.uid !== uid)
        return reply.code(400).send({
          error: "InvalidWarmPool",
          message: `uid: ${desired.data.uid} does not match the URL's ${uid}`,
          fields: [{ path: "uid", message: `does not match the URL's ${uid}` }],
        });
      const outcome = manager.putWarmPool(desired.data);
      return reply.code(WARM_STATUS[outcome]).send({ outcome, warmPool: manager.warm.get(uid) });
    },
  );

  app.get(`${AGENT_API_PREFIX}/warm-pools`, operator, async () => ({
    items: manager.warm.list(),
  }));

  app.delete<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/warm-pools/:uid`,
    operator,
    async (request, reply) => {
      const uid = parseUid(reply, request.params.uid);
      if (!uid) return reply;
      if (!manager.warm.delete(uid))
        return reply
          .code(404)
          .send({ error: "NotFound", message: `no warm pool ${uid} on this node` });
      return { deleted: uid };
    },
  );

  // WebSockets for exec sessions and SSH tunnels; a frame carries at most 1 MiB.
  await app.register(websocket, {
    options: { maxPayload: 1 << 20 },
    // A client that breaks the WebSocket protocol (bad UTF-8, oversized or
    // malformed frames) loses its connection; that is its problem, not an
    // agent error, and must not flood the log with stacks.
    errorHandler: (error, socket, request) => {
      const code = (error as { code?: string }).code ?? "";
      if (code.startsWith("WS_ERR_"))
        request.log.info(
          { code, url: request.url },
          "WebSocket closed: the client broke the protocol",
        );
      else request.log.error({ err: error, url: request.url }, "WebSocket handler failed");
      socket.terminate();
    },
  });
  registerExecRoutes(app, manager, log.child({ component: "exec" }));
  registerSshRoutes(app, manager, log.child({ component: "ssh" }));

  /**
   * Newline-delimited JSON: the current state of every sandbox and warm
   * pool, then each change as it happens.
   */
  app.get(`${AGENT_API_PREFIX}/events`, operator, (request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "application/x-ndjson",
      "cache-control": "no-cache",
    });
    const write = (event: AgentEvent) => reply.raw.write(`${JSON.stringify(event)}\n`);
    const now = new Date().toISOString();
    for (const sandbox of manager.list()) write({ type: "sandbox", sandbox, time: now });
    for (const warmPool of manager.warm.list()) write({ type: "warmPool", warmPool, time: now });
    manager.on("event", write);
    manager.on("warmPool", write);
    request.raw.on("close", () => {
      manager.off("event", write);
      manager.off("warmPool", write);
    });
  });

  return { app, routes };
}
