import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { AGENT_API_PREFIX, ExecServerControl } from "@turgon/api/agent";
import type { ExecAuditEvent } from "@turgon/api/audit";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import type { ExecTokenClaims } from "@turgon/api/routing";
import { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../logger.ts";
import { isReady } from "../reconcile/conditions.ts";
import type { SandboxDirectory } from "./directory.ts";
import type { RouterMetrics } from "./metrics.ts";
import { TokenError, type TokenKeys } from "./tokens.ts";

export interface ExecEdgeOptions {
  directory: SandboxDirectory;
  keys: TokenKeys;
  metrics: RouterMetrics;
  log: Logger;
  /** The node agents' API bearer token. */
  agentToken: string;
  /** Where session records go (the exec audit queue). */
  record: (event: ExecAuditEvent) => Promise<void>;
}

function reject(client: Socket, status: number, reason: string, message: string): void {
  const body = `${JSON.stringify({ error: reason, message })}\n`;
  client.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Exec at the edge: a WebSocket that presents a short-lived exec token
 * (`?token=`), bridged frame for frame to the owning agent's exec
 * WebSocket (the same protocol, api/agent/exec.ts). The router starts the
 * session with the token's command; every session is recorded.
 */
export class ExecEdge {
  private readonly options: ExecEdgeOptions;
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });

  constructor(options: ExecEdgeOptions) {
    this.options = options;
  }

  async upgrade(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    const { directory, keys, metrics } = this.options;
    const url = new URL(req.url ?? "/", "http://router");
    let claims: ExecTokenClaims;
    try {
      claims = await keys.verifyExec(url.searchParams.get("token") ?? undefined);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      metrics.errors.inc({ reason: `exec-token-${error.problem}` });
      return reject(client, 401, "InvalidExecToken", error.message);
    }
    const found = directory.find(claims.namespace, claims.sandbox);
    if (!found || !isReady(found.sandbox) || !found.node) {
      metrics.errors.inc({ reason: "exec-not-running" });
      return reject(
        client,
        409,
        "NotRunning",
        `sandbox ${claims.namespace}/${claims.sandbox} is not running`,
      );
    }
    const size = (name: string, fallback: number) => {
      const value = Number(url.searchParams.get(name));
      return Number.isInteger(value) && value >= 1 && value <= 1000 ? value : fallback;
    };
    this.server.handleUpgrade(req, client, head, (socket) =>
      this.bridge(socket, claims, found as Required<typeof found>, {
        cols: size("cols", 80),
        rows: size("rows", 24),
      }),
    );
  }

  private bridge(
    client: WebSocket,
    claims: ExecTokenClaims,
    { sandbox, node }: { sandbox: Sandbox; node: SandboxNode },
    size: { cols: number; rows: number },
  ): void {
    const { log, agentToken } = this.options;
    const uid = sandbox.metadata.uid as string;
    const startedAt = new Date().toISOString();
    let exitCode: number | null = null;
    let reason = "client-closed";
    const agentUrl = `${node.spec.address.replace(/^http/, "ws")}${AGENT_API_PREFIX}/sandboxes/${uid}/exec`;
    const agent = new WebSocket(agentUrl, {
      headers: { authorization: `Bearer ${agentToken}` },
      maxPayload: 1 << 20,
    });
    const pending: { data: Buffer; binary: boolean }[] = [];

    agent.on("open", () => {
      agent.send(
        JSON.stringify({
          type: "start",
          ...(claims.command ? { command: claims.command } : {}),
          tty: claims.tty,
          cols: size.cols,
          rows: size.rows,
        }),
      );
      for (const frame of pending.splice(0)) agent.send(frame.data, { binary: frame.binary });
    });
    agent.on("message", (data: Buffer, binary: boolean) => {
      if (!binary) {
        const control = ExecServerControl.safeParse(JSON.parse(data.toString("utf8")));
        if (control.success && control.data.type === "exit") {
          exitCode = control.data.exitCode;
          reason = "exited";
        } else if (control.success && control.data.type === "error")
          reason = `error: ${control.data.message}`;
      }
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary });
    });
    client.on("message", (data: Buffer, binary: boolean) => {
      if (agent.readyState === WebSocket.OPEN) agent.send(data, { binary });
      else pending.push({ data, binary });
    });
    const end = () => {
      if (client.readyState === WebSocket.OPEN)
        client.close(1000, reason === "exited" ? "exited" : "closed");
      if (agent.readyState === WebSocket.OPEN || agent.readyState === WebSocket.CONNECTING)
        agent.terminate();
    };
    agent.on("close", () => {
      if (reason === "client-closed") reason = "agent-closed";
      end();
    });
    agent.on("error", (error) => {
      reason = `error: ${error.message}`;
      end();
    });
    client.on("close", end);
    client.on("error", end);

    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const event: ExecAuditEvent = {
        id: randomUUID(),
        user: claims.sub,
        sandbox: {
          uid,
          name: sandbox.metadata.name as string,
          namespace: sandbox.metadata.namespace as string,
        },
        node: node.metadata.name as string,
        command: claims.command ?? null,
        tty: claims.tty,
        startedAt,
        endedAt: new Date().toISOString(),
        exitCode,
        reason,
      };
      log.info({ exec: { ...event } }, "exec session ended");
      this.options
        .record(event)
        .catch((error) =>
          log.error({ err: error, id: event.id }, "could not record the exec session"),
        );
    };
    // Both sides closed: the session is over.
    let closed = 0;
    const onClosed = () => {
      closed += 1;
      if (closed === 2) record();
    };
    agent.once("close", onClosed);
    client.once("close", onClosed);
  }

  close(): void {
    for (const socket of this.server.clients) socket.terminate();
    this.server.close();
  }
}
