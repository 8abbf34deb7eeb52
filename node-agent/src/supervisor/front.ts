/**
 * A sandbox's ingress front: the port its supervisor holds for its whole
 * life, so the sandbox's URL keeps answering while the node agent is down
 * (restart, upgrade, crash). The router sends the sandbox's requests here
 * (the agent's port is the fallback); the checks are the agent's own
 * (`createIngressHandlers`), for this one sandbox only.
 */
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import { createServer as createNetServer, type Socket } from "node:net";
import type { SupervisorFront } from "@turgon/api/supervisor";
import type { CallerAuthentication } from "../api/auth.ts";
import { tlsServerOptions } from "../api/tls.ts";
import {
  createIngressHandlers,
  type IngressHandlers,
  type IngressLookup,
  serveIngress,
} from "../ingress/proxy.ts";
import type { Logger } from "../logger.ts";

/** How long a connection that arrives before the front has credentials waits for them. */
const MATERIAL_WAIT_MS = 2_000;

export type FrontAuth = SupervisorFront["auth"];

export interface SandboxFrontOptions {
  /** The front's own sandbox; any other uid is "misdirected" (421). */
  lookup: IngressLookup;
  log: Logger;
  /** How long the VM's gateway may take to accept a connection. */
  connectTimeoutMs?: number;
  materialWaitMs?: number;
}

/**
 * The port is a `net.Server` that accepts paused connections and hands each
 * to the protocol server of the current credentials: https with the agent's
 * serving certificate and client CA (mutual TLS, as the agent's port), or
 * plain http with tickets (an --insecure agent). A new certificate or mode
 * needs no rebind. Until the first credentials arrive (`configure`, from the
 * agent's `PUT /front`), a connection waits up to 2 s and is then dropped.
 */
export class SandboxFront {
  private readonly listener = createNetServer({ pauseOnConnect: true }, (socket) =>
    this.accept(socket),
  );
  private readonly handlers: IngressHandlers;
  private protocol?: { mode: FrontAuth["mode"]; server: Server | TlsServer };
  /** Protocol servers this front has had: their connections go on until closed. */
  private readonly servers = new Set<Server | TlsServer>();
  private auth?: CallerAuthentication;
  private readonly waiting = new Map<Socket, NodeJS.Timeout>();
  private readonly materialWaitMs: number;
  private readonly log: Logger;

  constructor(options: SandboxFrontOptions) {
    this.log = options.log;
    this.materialWaitMs = options.materialWaitMs ?? MATERIAL_WAIT_MS;
    this.handlers = createIngressHandlers({
      lookup: options.lookup,
      auth: () => this.auth ?? { mode: "certificate" },
      log: options.log,
      ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    });
  }

  /** Binds the port (0 picks one); rejects with the listen error (EADDRINUSE: another process has it). */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen({ host, port, exclusive: true }, () => {
        this.listener.off("error", reject);
        resolve();
      });
    });
    this.listener.on("error", (error) => this.log.error({ err: error }, "the front's port failed"));
    return this.port() as number;
  }

  port(): number | undefined {
    const address = this.listener.address();
    return address && typeof address === "object" ? address.port : undefined;
  }

  /** Connections accepted before any credentials, waiting for them. */
  get waitingConnections(): number {
    return this.waiting.size;
  }

  /**
   * Takes the credentials: the same mode keeps its server (a certificate
   * swapped in place), another mode gets a new one. Throws, changing
   * nothing, on material TLS cannot use.
   */
  configure(auth: FrontAuth): void {
    if (auth.mode === "certificate") {
      const options = tlsServerOptions({ cert: auth.cert, key: auth.key, clientCa: auth.clientCa });
      const current = this.protocol;
      if (current?.mode === "certificate") (current.server as TlsServer).setSecureContext(options);
      else this.use("certificate", createTlsServer(options));
      this.auth = { mode: "certificate" };
    } else {
      if (this.protocol?.mode !== "token") this.use("token", createServer());
      this.auth = { mode: "token", token: auth.token };
    }
    for (const [socket, timer] of this.waiting) {
      clearTimeout(timer);
      this.handOff(socket);
    }
    this.waiting.clear();
  }

  private use(mode: FrontAuth["mode"], server: Server | TlsServer): void {
    serveIngress(server as Server, this.handlers);
    // A TLS handshake that fails (a scanner, a wrong CA) is the client's problem, not a crash.
    server.on("tlsClientError", () => {});
    server.on("clientError", (_error, socket: Socket) => socket.destroy());
    this.protocol = { mode, server };
    this.servers.add(server);
  }

  private accept(socket: Socket): void {
    if (this.protocol) {
      this.handOff(socket);
      return;
    }
    socket.on("error", () => {});
    const timer = setTimeout(() => {
      this.waiting.delete(socket);
      socket.destroy();
    }, this.materialWaitMs);
    this.waiting.set(socket, timer);
    socket.once("close", () => {
      clearTimeout(timer);
      this.waiting.delete(socket);
    });
  }

  private handOff(socket: Socket): void {
    const protocol = this.protocol;
    if (!protocol || socket.destroyed) return;
    protocol.server.emit("connection", socket);
    // Accepted paused (pauseOnConnect): the protocol server reads from here on.
    socket.resume();
  }

  async close(): Promise<void> {
    for (const [socket, timer] of this.waiting) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.waiting.clear();
    for (const server of this.servers) server.closeAllConnections();
    this.handlers.close();
    if (this.listener.listening)
      await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }
}
