import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { AGENT_API_PREFIX, type ExecServerControl } from "@turgon/api/agent";
import {
  type AgentCredentials,
  agentApiHeaders,
  agentTlsOptions,
} from "@turgon/api/agent/credentials";
import type { ExecAuditEvent } from "@turgon/api/audit";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { isReady } from "@turgon/api/crd";
import type { ExecTokenClaims } from "@turgon/api/routing";
import { WebSocket, WebSocketServer } from "ws";
import { ReplayCheckUnavailable, type SingleUseGuard } from "../access/replay.ts";
import { TokenError, type TokenKeys } from "../access/tokens.ts";
import type { SandboxDirectory } from "../directory/directory.ts";
import { refuseUpgrade } from "../http/pages.ts";
import type { Logger } from "../logger.ts";
import type { RouterMetrics } from "../metrics.ts";
import { agentFrame, clientFrame } from "./frames.ts";

/** Input a client may send before the agent's socket opens; more is refused, not buffered without end. */
const MAX_PENDING_BYTES = 1 << 20;

export interface ExecEdgeOptions {
  directory: SandboxDirectory;
  keys: TokenKeys;
  metrics: RouterMetrics;
  log: Logger;
  /** The node agents' API bearer token. */
  /** How the router proves itself to agents. */
  agentCredentials: AgentCredentials;
  /** Where session records go (the exec audit queue). */
  record: (event: ExecAuditEvent) => Promise<void>;
  /** Makes each exec token good for one session. */
  replay: SingleUseGuard;
}

function reject(client: Socket, status: number, reason: string, message: string): void {
  refuseUpgrade(client, { status, reason, message });
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
    // A spent token is a bad credential, whatever the sandbox's state now.
    if (!(await this.singleUse(client, claims, "look"))) return;
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
    // Claimed last, so a token refused for another reason (sandbox not running) can be retried.
    if (!(await this.singleUse(client, claims, "claim"))) return;
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

  /**
   * The token's single use: "look" refuses one already spent, "claim"
   * spends it (the first use wins across replicas). False when the client
   * was refused (401 for a replay, 503 when Redis cannot tell).
   */
  private async singleUse(
    client: Socket,
    claims: ExecTokenClaims,
    mode: "look" | "claim",
  ): Promise<boolean> {
    const { replay, metrics } = this.options;
    try {
      const fresh =
        mode === "look"
          ? !(await replay.spent(claims.jti))
          : await replay.claim(claims.jti, claims.exp);
      if (fresh) return true;
      metrics.errors.inc({ reason: "exec-token-replayed" });
      reject(client, 401, "ExecTokenReplayed", "this exec token has been used already");
    } catch (error) {
      if (!(error instanceof ReplayCheckUnavailable)) throw error;
      metrics.errors.inc({ reason: "exec-replay-check-unavailable" });
      reject(client, 503, "ReplayCheckUnavailable", error.message);
    }
    return false;
  }

  private bridge(
    client: WebSocket,
    claims: ExecTokenClaims,
    { sandbox, node }: { sandbox: Sandbox; node: SandboxNode },
    size: { cols: number; rows: number },
  ): void {
    const { log, agentCredentials } = this.options;
    const uid = sandbox.metadata.uid as string;
    const startedAt = new Date().toISOString();
    let exitCode: number | null = null;
    let reason = "client-closed";
    const agentUrl = `${node.spec.address.replace(/^http/, "ws")}${AGENT_API_PREFIX}/sandboxes/${uid}/exec`;
    const agent = new WebSocket(agentUrl, {
      headers: agentApiHeaders(agentCredentials),
      ...agentTlsOptions(agentCredentials),
      maxPayload: 1 << 20,
    });
    const pending: { data: Buffer; binary: boolean }[] = [];
    let pendingBytes = 0;
    const tell = (socket: WebSocket, message: ExecServerControl) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    };

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
      pendingBytes = 0;
    });
    agent.on("message", (data: Buffer, binary: boolean) => {
      const frame = agentFrame(data, binary);
      if (!frame.ok) {
        // The agent is ours, but a frame we cannot read must not end the router, nor reach the user as is.
        log.warn({ sandbox: uid, problem: frame.problem }, "the agent sent a malformed exec frame");
        this.options.metrics.errors.inc({ reason: "exec-agent-frame-malformed" });
        tell(client, { type: "error", message: "the node agent sent a malformed frame (ignored)" });
        return;
      }
      if (frame.kind === "control" && frame.control.type === "exit") {
        exitCode = frame.control.exitCode;
        reason = "exited";
      } else if (frame.kind === "control" && frame.control.type === "error")
        reason = `error: ${frame.control.message}`;
      if (client.readyState !== WebSocket.OPEN) return;
      if (frame.kind === "control") client.send(frame.text);
      else client.send(data, { binary: true });
    });
    client.on("message", (data: Buffer, binary: boolean) => {
      const frame = clientFrame(data, binary);
      if (!frame.ok) {
        // Refused here, so the agent only ever sees frames of the protocol.
        this.options.metrics.errors.inc({ reason: "exec-client-frame-malformed" });
        tell(client, { type: "error", message: `the router refused a frame: ${frame.problem}` });
        return;
      }
      const out = frame.kind === "control" ? Buffer.from(frame.text) : data;
      if (agent.readyState === WebSocket.OPEN) agent.send(out, { binary });
      else if (pendingBytes + out.length > MAX_PENDING_BYTES) {
        reason = "error: too much input before the session started";
        client.close(1008, "too much input before the session started");
      } else {
        pending.push({ data: out, binary });
        pendingBytes += out.length;
      }
    });
    const end = () => {
      if (client.readyState === WebSocket.OPEN)
        client.close(1000, reason === "exited" ? "exited" : "closed");
      if (agent.readyState === WebSocket.OPEN || agent.readyState === WebSocket.CONNECTING)
        agent.terminate();
    };
    // Set when the client's socket closes: end() then closes the agent's, and that is still the client's doing.
    let clientClosed = false;
    agent.on("close", () => {
      if (reason === "client-closed" && !clientClosed) reason = "agent-closed";
      end();
    });
    agent.on("error", (error) => {
      reason = `error: ${error.message}`;
      end();
    });
    client.on("close", () => {
      clientClosed = true;
      end();
    });
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
