import { connect } from "node:net";
import { AGENT_API_PREFIX, type ApiError } from "@turgon/api/agent";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { createWebSocketStream, type WebSocket } from "ws";
import { CONTROL_PLANE } from "../api/auth.ts";
import type { Logger } from "../logger.ts";
import type { SandboxHandle } from "../sandboxes/handle.ts";
import type { SandboxManager } from "../sandboxes/manager.ts";

/** Where the guest's sshd is forwarded on this host (by the sandbox's supervisor, or in process). */
type SshPort = { host: string; port: number };

type Refusal = { status: 404 | 409; body: ApiError; retry?: boolean };

/** The sandbox and its SSH access, or why a client cannot have them now. */
function sshTarget(
  manager: SandboxManager,
  uid: string,
): { sandbox: SandboxHandle; access: SshPort } | Refusal {
  const sandbox = manager.get(uid);
  if (!sandbox)
    return { status: 404, body: { error: "NotFound", message: `no sandbox ${uid} on this node` } };
  if (!sandbox.desired.ssh.enabled)
    return {
      status: 404,
      body: {
        error: "SshDisabled",
        message: `SSH is off for sandbox ${uid} (ssh.enabled is false)`,
      },
    };
  if (sandbox.phase !== "Running" || !sandbox.vm)
    return {
      status: 409,
      body: { error: "NotRunning", message: `sandbox ${uid} is ${sandbox.phase}` },
    };
  const ssh = sandbox.sshState();
  switch (ssh.state) {
    case "ready":
      return { sandbox, access: { host: ssh.host, port: ssh.port } };
    case "failed":
      return {
        status: 409,
        body: { error: "SshUnavailable", message: `SSH could not be enabled: ${ssh.message}` },
      };
    default:
      return {
        status: 409,
        body: { error: "SshStarting", message: `SSH is starting in sandbox ${uid}; retry shortly` },
        retry: true,
      };
  }
}

function refuse(request: FastifyRequest, reply: FastifyReply, refusal: Refusal) {
  // A refused WebSocket upgrade leaves no HTTP connection to finish: end its socket.
  if (request.headers.upgrade) reply.raw.once("finish", () => request.raw.socket.destroy());
  if (refusal.retry) void reply.header("retry-after", "1");
  return reply.code(refusal.status).send(refusal.body);
}

/**
 * Bridges one WebSocket to one TCP connection to the guest's sshd (through
 * Gondolin's loopback forwarder): binary frames both ways, with backpressure.
 * Either side ending ends the other (a WebSocket close after the guest's
 * last bytes; a TCP FIN after the client's); errors tear both down. Traffic
 * counts as activity. Turning SSH off or stopping the VM ends the tunnel.
 */
function bridge(socket: WebSocket, sandbox: SandboxHandle, access: SshPort, log: Logger): void {
  const uid = sandbox.desired.uid;
  const tcp = connect({ host: access.host, port: access.port });
  tcp.setNoDelay(true);
  const stream = createWebSocketStream(socket);
  const untrack = sandbox.trackTunnel(() => {
    tcp.destroy();
    socket.close(1001, "SSH closed");
  });
  sandbox.touch();
  const touch = () => sandbox.touch();
  tcp.on("data", touch);
  stream.on("data", touch);
  const fail = (side: string) => (error: Error) => {
    log.debug({ uid, err: error.message }, `SSH tunnel: ${side} side failed`);
    tcp.destroy();
    stream.destroy();
  };
  tcp.on("error", fail("guest"));
  stream.on("error", fail("client"));
  socket.on("close", () => {
    untrack();
    tcp.end();
  });
  stream.pipe(tcp).pipe(stream);
}

/**
 * The SSH routes of the agent API, for the router's SSH gateway: the
 * credentials Gondolin made for a sandbox's guest sshd, and a WebSocket
 * carrying the raw SSH connection to it. Expects @fastify/websocket registered.
 */
export function registerSshRoutes(app: FastifyInstance, manager: SandboxManager, log: Logger) {
  const base = `${AGENT_API_PREFIX}/sandboxes/:uid/ssh`;

  app.get<{ Params: { uid: string } }>(
    `${base}/credentials`,
    { config: { callers: CONTROL_PLANE } },
    async (request, reply) => {
      const target = sshTarget(manager, request.params.uid);
      if ("status" in target) return refuse(request, reply, target);
      try {
        return await target.sandbox.sshCredentials();
      } catch (error) {
        // The key file goes when SSH closes: SSH was turned off while we read it.
        log.warn({ uid: request.params.uid, err: (error as Error).message }, "reading SSH key");
        return reply.code(409).send({
          error: "SshStarting",
          message: `SSH for sandbox ${request.params.uid} changed while reading its key; retry`,
        } satisfies ApiError);
      }
    },
  );

  app.get<{ Params: { uid: string } }>(
    `${base}/tunnel`,
    {
      websocket: true,
      config: { callers: CONTROL_PLANE },
      preHandler: async (request, reply) => {
        const target = sshTarget(manager, request.params.uid);
        if ("status" in target) return refuse(request, reply, target);
      },
    },
    (socket, request) => {
      const target = sshTarget(manager, request.params.uid);
      if ("status" in target) {
        socket.close(1011, target.body.error);
        return;
      }
      bridge(socket, target.sandbox, target.access, log);
    },
  );
}
