/**
 * A sandbox's ingress front: the port its supervisor holds for its whole
 * life, so the sandbox's URL keeps answering while the node agent is down
 * (restart, upgrade, crash). The router sends the sandbox's requests here
 * (the agent's port is the fallback); the checks are the agent's own
 * (`createIngressHandlers`), for this one sandbox only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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
/**
 * How long a connection may take to send a request's head (from its accept,
 * or from the end of its previous response): Node's own `headersTimeout`,
 * which the agent's listening port applies but a server that never listens
 * does not.
 */
const HEADER_TIMEOUT_MS = 60_000;

/** The credentials' place in the order the agent pushed them (see `SupervisorFront.generation`). */
export type FrontGeneration = NonNullable<SupervisorFront["generation"]>;

export type FrontAuth = SupervisorFront["auth"];

export interface SandboxFrontOptions {
  /** The front's own sandbox; any other uid is "misdirected" (421). */
  lookup: IngressLookup;
  log: Logger;
  /** How long the VM's gateway may take to accept a connection. */
  connectTimeoutMs?: number;
  materialWaitMs?: number;
  /** How long a request's head may take (a half-sent one is then cut). */
  headerTimeoutMs?: number;
  /** Told of each request answered, with its status code. */
  onAnswered?: (code: number) => void;
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
  private auth?: CallerAuthentication;
  /** Which push the credentials came from: an older one never replaces them. */
  private generation?: FrontGeneration;
  private readonly waiting = new Map<Socket, NodeJS.Timeout>();
  /**
   * Every connection handed to a protocol server, with the timer that cuts it
   * while it owes a request head. The protocol servers never listen, so Node
   * neither times their requests out nor closes their connections: this does.
   */
  private readonly connections = new Map<Socket, NodeJS.Timeout | undefined>();
  private readonly materialWaitMs: number;
  private readonly headerTimeoutMs: number;
  private readonly log: Logger;

  constructor(options: SandboxFrontOptions) {
    this.log = options.log;
    this.materialWaitMs = options.materialWaitMs ?? MATERIAL_WAIT_MS;
    this.headerTimeoutMs = options.headerTimeoutMs ?? HEADER_TIMEOUT_MS;
    this.handlers = createIngressHandlers({
      lookup: options.lookup,
      auth: () => this.auth ?? { mode: "certificate" },
      log: options.log,
      ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.onAnswered ? { onAnswered: options.onAnswered } : {}),
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
   * swapped in place), another mode gets a new one. Returns false, changing
   * nothing, for credentials of an older push than those it has (a late
   * retry); throws, changing nothing, on material TLS cannot use.
   */
  configure(auth: FrontAuth, generation?: FrontGeneration): boolean {
    if (generation && this.generation && olderThan(generation, this.generation)) return false;
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
    if (generation) this.generation = generation;
    for (const [socket, timer] of this.waiting) {
      clearTimeout(timer);
      this.handOff(socket);
    }
    this.waiting.clear();
    return true;
  }

  /**
   * The protocol server of a mode. The one it replaces is let go: its
   * connections go on until they end (they are in `connections`).
   */
  private use(mode: FrontAuth["mode"], server: Server | TlsServer): void {
    // The head has come: the request's own course is the proxy's from here.
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const socket = this.connectionOf(req);
      this.headArrived(socket);
      // Kept alive: the next request's head is owed from the end of this response.
      res.once("finish", () => {
        if (!socket.destroyed && this.connections.has(socket)) this.owesHead(socket);
      });
    });
    server.on("upgrade", (req: IncomingMessage) => this.headArrived(this.connectionOf(req)));
    serveIngress(server as Server, this.handlers);
    // A TLS handshake that fails (a scanner, a wrong CA) is the client's problem, not a crash.
    server.on("tlsClientError", () => {});
    server.on("clientError", (_error, socket: Socket) => socket.destroy());
    this.protocol = { mode, server };
  }

  /**
   * The accepted socket a request came on: the request's own socket in token
   * mode; in certificate mode the TLS socket's transport, which Node keeps
   * as `_parent` (it has no public accessor).
   */
  private connectionOf(req: IncomingMessage): Socket {
    const socket = req.socket as Socket & { _parent?: Socket };
    return socket._parent && this.connections.has(socket._parent) ? socket._parent : socket;
  }

  private owesHead(socket: Socket): void {
    clearTimeout(this.connections.get(socket));
    const timer = setTimeout(() => {
      this.log.debug("a request's head did not come in time: closing its connection");
      socket.destroy();
    }, this.headerTimeoutMs);
    timer.unref();
    this.connections.set(socket, timer);
  }

  private headArrived(socket: Socket): void {
    if (!this.connections.has(socket)) return;
    clearTimeout(this.connections.get(socket));
    this.connections.set(socket, undefined);
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
    this.owesHead(socket);
    socket.once("close", () => {
      clearTimeout(this.connections.get(socket));
      this.connections.delete(socket);
    });
    protocol.server.emit("connection", socket);
    // Accepted paused (pauseOnConnect): the protocol server reads from here on.
    socket.resume();
  }

  /** Open connections the protocol servers have (requests, keep-alive, tunnels). */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Ends every connection at once (requests, tunnels and all) and lets go of the port. */
  async close(): Promise<void> {
    for (const [socket, timer] of this.waiting) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.waiting.clear();
    for (const [socket, timer] of this.connections) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.connections.clear();
    this.handlers.close();
    if (this.listener.listening)
      await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }
}

/** Whether push `a` came before push `b` of the same agent (another agent's is newer: it took over). */
function olderThan(a: FrontGeneration, b: FrontGeneration): boolean {
  return a.agent === b.agent && a.sequence < b.sequence;
}
