/**
 * The supervisor's side of the protocol (`@turgon/api/supervisor`): a plain
 * node:http server on the Unix socket (no Fastify: every supervisor is a
 * process of its own, and its memory counts per VM), with `ws` for exec.
 */
import { chmod, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isDeepStrictEqual } from "node:util";
import { DesiredSandbox, describeFieldErrors, ExecOnceRequest, ExecStart } from "@turgon/api/agent";
import {
  SupervisorFront,
  type SupervisorHello,
  SupervisorIngressRoutes,
  type SupervisorState,
  SupervisorStop,
  SupervisorTouch,
  SupervisorWarm,
} from "@turgon/api/supervisor";
import { WebSocketServer } from "ws";
import type { z } from "zod";
import { parseJson, send } from "../exec/bridge.ts";
import type { Logger } from "../logger.ts";
import {
  bootIdentity,
  ClaimRefused,
  ManagedSandbox,
  type SandboxContext,
} from "../sandboxes/sandbox.ts";
import { SandboxFront } from "./front.ts";
import { processStartTimeSync } from "./process-identity.ts";

/** Activity seen by the front reaches the agent (its lastActivityAt) at most this often. */
const FRONT_ACTIVITY_PUBLISH_MS = 5_000;

/** Request bodies are desired states and exec input: bounded like the agent API's. */
const MAX_BODY_BYTES = 4 << 20;

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "TooLarge", "request body too large");
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "null");
  } catch {
    throw new HttpError(400, "InvalidJson", "request body is not JSON");
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown, code: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, code, describeFieldErrors(parsed.error));
  return parsed.data;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

export interface SupervisorServerOptions {
  socketPath: string;
  hello: () => SupervisorHello;
  /** The sandbox's context, less its change callback (the server reports changes). */
  context: Omit<SandboxContext, "onChange">;
  log: Logger;
  /** Called after a stop, once the VM is down: the process cleans up and exits. */
  onStopped: () => void;
  /** Each state the supervisor reports (the record keeps the QEMU pid and generation). */
  onState?: (state: SupervisorState) => void;
  /** The sandbox's ingress front: bound by `listen()` before the socket answers (port 0: any). */
  front?: { host: string; port: number };
}

/** Serves one sandbox's supervisor protocol on a Unix socket. */
export class SupervisorServer {
  private sandbox?: ManagedSandbox;
  private readonly subscribers = new Set<ServerResponse>();
  private readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  private stopping?: Promise<void>;
  private readonly options: SupervisorServerOptions;
  private readonly timings: SupervisorState["timings"] = [];
  /** The QEMU's start time, read once per QEMU pid (see `process-identity.ts`). */
  private qemu?: { pid: number; startTime: number | undefined };
  private readonly front?: SandboxFront;
  private frontActivityPublished = 0;
  /** Requests the front answered, by status code (reported in the state for the agent's metrics). */
  private readonly frontRequests: Record<string, number> = {};
  private frontRequestsPublish?: NodeJS.Timeout;

  constructor(options: SupervisorServerOptions) {
    this.options = options;
    if (options.front)
      this.front = new SandboxFront({
        // The sandbox's UID, which a claimed warm VM's supervisor does not share.
        lookup: (uid) => (uid === this.servedUid() ? this.frontSubject() : "misdirected"),
        log: options.log.child({ component: "front" }),
        onAnswered: (code) => this.countFrontRequest(code),
      });
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        if (error instanceof HttpError)
          return reply(res, error.status, { error: error.code, message: error.message });
        options.log.error({ err: error }, "supervisor request failed");
        if (!res.headersSent)
          reply(res, 500, { error: "Internal", message: (error as Error).message });
      });
    });
    this.server.on("upgrade", (req, socket, head) => {
      if (new URL(req.url ?? "/", "http://supervisor").pathname !== "/exec") {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.once("message", (data: Buffer, isBinary: boolean) => {
          const start = ExecStart.safeParse(isBinary ? undefined : parseJson(data));
          if (!start.success) {
            send(ws, { type: "error", message: describeFieldErrors(start.error) });
            ws.close(1008, "bad start");
            return;
          }
          const sandbox = this.sandbox;
          if (!sandbox) {
            send(ws, { type: "error", message: "the sandbox has no desired state yet" });
            ws.close(1008, "sandbox not running");
            return;
          }
          sandbox.attachExec(ws, start.data, options.log);
        });
      });
    });
  }

  /** The UID of the sandbox the front serves: none while the VM is warm (unclaimed) or absent. */
  private servedUid(): string | undefined {
    const sandbox = this.sandbox;
    return sandbox && !sandbox.unclaimedWarm ? sandbox.desired.uid : undefined;
  }

  /**
   * The sandbox as its front serves it. Activity counts locally at once (a
   * restarted agent reads lastActivityAt back) and is published at most every
   * 5 s, so the agent's lastActivityAt moves too (idleTimeout).
   */
  private frontSubject() {
    const sandbox = this.sandbox;
    if (!sandbox) return undefined;
    return {
      desired: sandbox.desired,
      phase: sandbox.phase,
      gateway: () => sandbox.gateway(),
      touch: () => {
        const now = Date.now();
        sandbox.touch(now);
        if (now - this.frontActivityPublished < FRONT_ACTIVITY_PUBLISH_MS) return;
        this.frontActivityPublished = now;
        this.publish();
      },
    };
  }

  /**
   * Counts a request the front answered; the count reaches the agent with the
   * next state, at the latest 5 s from now (not a state per request).
   */
  private countFrontRequest(code: number): void {
    const key = String(code);
    this.frontRequests[key] = (this.frontRequests[key] ?? 0) + 1;
    if (this.frontRequestsPublish) return;
    this.frontRequestsPublish = setTimeout(() => {
      this.frontRequestsPublish = undefined;
      if (this.sandbox) this.publish();
    }, FRONT_ACTIVITY_PUBLISH_MS);
    this.frontRequestsPublish.unref();
  }

  /** The front's port, once bound. */
  frontPort(): number | undefined {
    return this.front?.port();
  }

  /** Binds the front (first: a launch that answers hello has its port), then the socket. */
  async listen(): Promise<void> {
    const front = this.options.front;
    if (front && this.front) await this.front.listen(front.host, front.port);
    await rm(this.options.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.socketPath, () => resolve());
    });
    await chmod(this.options.socketPath, 0o600);
  }

  state(): SupervisorState {
    const sandbox = this.sandbox;
    if (!sandbox) throw new HttpError(409, "NoDesiredState", "no desired state yet");
    const gateway = sandbox.phase === "Running" ? sandbox.gateway() : undefined;
    const qemuPid = sandbox.hostPid();
    if (qemuPid && this.qemu?.pid !== qemuPid)
      this.qemu = { pid: qemuPid, startTime: processStartTimeSync(qemuPid) };
    const qemuStartTime = qemuPid ? this.qemu?.startTime : undefined;
    const accelerator = this.options.context.runtime.chosenAccelerator;
    return {
      ...(accelerator ? { accelerator } : {}),
      desired: sandbox.desired,
      ...(sandbox.warm ? { warm: { ...sandbox.warm } } : {}),
      sandbox: sandbox.observe(),
      ssh: sandbox.sshState(),
      timings: this.timings,
      ...(this.front ? { frontRequests: { ...this.frontRequests } } : {}),
      ...(gateway ? { gateway } : {}),
      ...(qemuPid ? { qemuPid } : {}),
      ...(qemuStartTime !== undefined ? { qemuStartTime } : {}),
    };
  }

  private publish(): void {
    const state = this.state();
    this.options.onState?.(state);
    const line = `${JSON.stringify(state)}\n`;
    for (const res of this.subscribers) res.write(line);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://supervisor").pathname;
    const key = `${req.method} ${path}`;
    switch (key) {
      case "GET /hello":
        return reply(res, 200, this.options.hello());
      case "GET /state":
        return reply(res, 200, this.state());
      case "PUT /desired":
        return reply(res, 200, this.put(parse(DesiredSandbox, await readJson(req), "Invalid")));
      case "PUT /warm": {
        const warm = parse(SupervisorWarm, await readJson(req), "Invalid");
        return reply(res, 200, this.put(warm.desired, { poolUid: warm.poolUid }));
      }
      case "POST /claim":
        return reply(
          res,
          200,
          await this.claim(parse(DesiredSandbox, await readJson(req), "Invalid")),
        );
      case "GET /events": {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        if (this.sandbox) res.write(`${JSON.stringify(this.state())}\n`);
        this.subscribers.add(res);
        req.on("close", () => this.subscribers.delete(res));
        return;
      }
      case "POST /stop": {
        const stop = parse(SupervisorStop, await readJson(req), "InvalidStop");
        await this.stop(stop);
        reply(res, 200, { stopped: this.options.hello().uid });
        // After the answer is out: the agent waits for the process to go.
        res.once("finish", () => this.options.onStopped());
        return;
      }
      case "PUT /front": {
        const { auth, generation } = parse(SupervisorFront, await readJson(req), "InvalidFront");
        if (!this.front) throw new HttpError(409, "NoFront", "this supervisor has no front");
        let taken: boolean;
        try {
          taken = this.front.configure(auth, generation);
        } catch (error) {
          // The TLS library's reason (a PEM that does not parse); never the material.
          throw new HttpError(400, "InvalidFront", `auth: ${(error as Error).message}`);
        }
        if (!taken)
          throw new HttpError(409, "StaleFront", "the front has credentials of a later push");
        return reply(res, 200, { frontPort: this.front.port() });
      }
      case "POST /touch": {
        const { at } = parse(SupervisorTouch, await readJson(req), "InvalidTouch");
        this.sandbox?.touch(at);
        return reply(res, 200, {});
      }
      case "POST /exec":
        return reply(res, 200, await this.execOnce(await readJson(req)));
      case "GET /ssh/credentials": {
        const sandbox = this.running();
        try {
          return reply(res, 200, await sandbox.sshCredentials());
        } catch (error) {
          throw new HttpError(409, "SshUnavailable", (error as Error).message);
        }
      }
      case "PUT /ingress-routes": {
        const routes = parse(SupervisorIngressRoutes, await readJson(req), "InvalidRoutes");
        const vm = this.running().vm;
        if (!vm) throw new HttpError(409, "NotRunning", "the VM is not running");
        vm.setIngressRoutes(routes);
        this.publish();
        return reply(res, 200, { routes: vm.getIngressRoutes() });
      }
      default:
        throw new HttpError(404, "NotFound", `no route ${key}`);
    }
  }

  /**
   * The first desired state starts the sandbox (`warm`: a warm VM for that
   * pool); later ones are live changes, to the sandbox that claimed the VM
   * if one did.
   */
  private put(desired: DesiredSandbox, warm?: { poolUid: string }): SupervisorState {
    const uid = this.sandbox?.desired.uid ?? this.options.hello().uid;
    if (desired.uid !== uid)
      throw new HttpError(400, "Invalid", `uid: ${desired.uid} is not this supervisor's ${uid}`);
    if (this.stopping) throw new HttpError(409, "Stopping", "the supervisor is stopping");
    const existing = this.sandbox;
    if (existing && warm) throw new HttpError(409, "NotWarm", "this supervisor has a VM already");
    if (existing?.unclaimedWarm)
      throw new HttpError(409, "Warm", "a warm VM takes a sandbox by POST /claim");
    if (!existing) {
      const sandbox = new ManagedSandbox(
        desired,
        {
          ...this.options.context,
          onChange: () => this.publish(),
          onSshChange: () => this.publish(),
          // Kept for the agent's metrics; published with the change that follows each.
          onTiming: (kind, seconds) => {
            this.timings.push({ kind, seconds });
            if (this.timings.length > 100) this.timings.shift();
          },
        },
        warm ? { warm } : {},
      );
      this.sandbox = sandbox;
      this.publish();
      void sandbox.start();
      return this.state();
    }
    if (isDeepStrictEqual(existing.desired, desired)) return this.state();
    if (bootIdentity(existing.desired) !== bootIdentity(desired) || existing.phase === "Failed")
      throw new HttpError(409, "NeedsNewVm", "this change needs a new VM: start a new supervisor");
    existing.applyLive(desired);
    return this.state();
  }

  /** Binds the warm VM to the sandbox `desired`; answers once it is Running (or Failed). */
  private async claim(desired: DesiredSandbox): Promise<SupervisorState> {
    const sandbox = this.sandbox;
    if (!sandbox) throw new HttpError(409, "NotWarm", "this supervisor has no VM");
    if (this.stopping) throw new HttpError(409, "Stopping", "the supervisor is stopping");
    try {
      await sandbox.claim(desired);
    } catch (error) {
      if (error instanceof ClaimRefused) throw new HttpError(409, "ClaimRefused", error.message);
      throw error;
    }
    return this.state();
  }

  private running(): ManagedSandbox {
    const sandbox = this.sandbox;
    if (sandbox?.phase !== "Running" || !sandbox.vm)
      throw new HttpError(409, "NotRunning", `sandbox is ${sandbox?.phase ?? "not created"}`);
    return sandbox;
  }

  private async execOnce(body: unknown) {
    const sandbox = this.running();
    const vm = sandbox.vm as NonNullable<ManagedSandbox["vm"]>;
    const { command, stdin, env, cwd, timeoutMs } = parse(ExecOnceRequest, body, "InvalidExec");
    sandbox.touch();
    const result = await vm.exec(command, {
      ...(stdin !== undefined ? { stdin } : {}),
      ...(env ? { env } : {}),
      ...(cwd ? { cwd } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  }

  /** Tears the VM down once (a second stop waits for the first). */
  stop(options: SupervisorStop = { keepSuspended: true }): Promise<void> {
    this.stopping ??= (async () => {
      await this.sandbox?.stop(options);
    })();
    return this.stopping;
  }

  async close(): Promise<void> {
    for (const res of this.subscribers) res.end();
    this.subscribers.clear();
    for (const client of this.wss.clients) client.terminate();
    this.server.closeAllConnections();
    await Promise.all([new Promise((resolve) => this.server.close(resolve)), this.front?.close()]);
  }
}
