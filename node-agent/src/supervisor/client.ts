/**
 * The agent's side of the supervisor protocol (`@turgon/api/supervisor`):
 * HTTP over the supervisor's Unix socket with node:http, its event stream,
 * and WebSockets (`ws+unix:`) for exec.
 */
import { type ClientRequest, request } from "node:http";
import {
  type DesiredSandbox,
  type ExecOnceRequest,
  ExecOnceResult,
  SshCredentials,
} from "@turgon/api/agent";
import {
  type SupervisorFront,
  type SupervisorHello,
  SupervisorHello as SupervisorHelloSchema,
  type SupervisorState,
  SupervisorState as SupervisorStateSchema,
  type SupervisorStop,
} from "@turgon/api/supervisor";
import { WebSocket } from "ws";
import { z } from "zod";
import { parseJson } from "../exec/bridge.ts";

/** The supervisor answered with an error (status and its `error` code), or not at all. */
export class SupervisorCallError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** How long a control call may take; exec and stop say their own. */
const CALL_TIMEOUT_MS = 10_000;

export class SupervisorClient {
  readonly socketPath: string;
  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** One request; the answer parsed with `schema`. */
  call<T extends z.ZodType>(
    method: string,
    path: string,
    schema: T,
    body?: unknown,
    timeoutMs = CALL_TIMEOUT_MS,
  ): Promise<z.infer<T>> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers: payload
            ? { "content-type": "application/json", "content-length": payload.length }
            : {},
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              return reject(new SupervisorCallError(res.statusCode ?? 0, "BadAnswer", "not JSON"));
            }
            if ((res.statusCode ?? 0) >= 400) {
              const error = json as { error?: string; message?: string };
              return reject(
                new SupervisorCallError(
                  res.statusCode ?? 0,
                  error.error ?? "Error",
                  error.message ?? `status ${res.statusCode}`,
                ),
              );
            }
            const parsed = schema.safeParse(json);
            if (!parsed.success)
              return reject(new SupervisorCallError(0, "BadAnswer", parsed.error.message));
            resolve(parsed.data);
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(new SupervisorCallError(0, "Timeout", `${method} ${path} timed out`)),
      );
      req.on("error", (error) =>
        reject(
          error instanceof SupervisorCallError
            ? error
            : new SupervisorCallError(0, "Unreachable", error.message),
        ),
      );
      req.end(payload);
    });
  }

  hello(timeoutMs?: number): Promise<SupervisorHello> {
    return this.call("GET", "/hello", SupervisorHelloSchema, undefined, timeoutMs);
  }

  state(): Promise<SupervisorState> {
    return this.call("GET", "/state", SupervisorStateSchema);
  }

  putDesired(desired: DesiredSandbox): Promise<SupervisorState> {
    return this.call("PUT", "/desired", SupervisorStateSchema, desired);
  }

  /** Boots a warm VM for pool `poolUid` with a placeholder desired state (instead of `putDesired`). */
  putWarm(poolUid: string, desired: DesiredSandbox): Promise<SupervisorState> {
    return this.call("PUT", "/warm", SupervisorStateSchema, { poolUid, desired });
  }

  /** Binds the warm VM to the sandbox `desired`; answers once it is Running or Failed. */
  claim(desired: DesiredSandbox): Promise<SupervisorState> {
    return this.call("POST", "/claim", SupervisorStateSchema, desired, 60_000);
  }

  /** Tears the VM down (a suspend checkpoint may take a while to write); the process then exits. */
  async stop(options: SupervisorStop, timeoutMs = 180_000): Promise<void> {
    await this.call("POST", "/stop", z.unknown(), options, timeoutMs);
  }

  exec(body: ExecOnceRequest): Promise<ExecOnceResult> {
    return this.call("POST", "/exec", ExecOnceResult, body, body.timeoutMs + 10_000);
  }

  /** The front's credentials (the agent's, as its own ingress port has them). */
  async putFront(front: SupervisorFront): Promise<void> {
    await this.call("PUT", "/front", z.unknown(), front);
  }

  async touch(at: number): Promise<void> {
    await this.call("POST", "/touch", z.unknown(), { at });
  }

  sshCredentials(): Promise<SshCredentials> {
    return this.call("GET", "/ssh/credentials", SshCredentials);
  }

  async setIngressRoutes(routes: SupervisorState["sandbox"]["routes"]): Promise<void> {
    await this.call("PUT", "/ingress-routes", z.unknown(), routes);
  }

  /**
   * Follows the supervisor's state: `onState` for each line (the current
   * state first), `onEnd` once when the stream ends for any reason.
   */
  subscribe(onState: (state: SupervisorState) => void, onEnd: (error?: Error) => void): () => void {
    let ended = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      onEnd(error);
    };
    const req: ClientRequest = request(
      { socketPath: this.socketPath, path: "/events", method: "GET" },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return end(new Error(`events answered ${res.statusCode}`));
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let newline = buffered.indexOf("\n");
          while (newline !== -1) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf("\n");
            // A line that is not a state (not even JSON) is skipped: the agent never throws on it.
            const parsed = SupervisorStateSchema.safeParse(parseJson(Buffer.from(line)));
            if (parsed.success) onState(parsed.data);
          }
        });
        res.on("end", () => end());
        res.on("error", end);
        res.on("close", () => end());
      },
    );
    req.on("error", end);
    req.end();
    return () => {
      ended = true;
      req.destroy();
    };
  }

  /** A WebSocket to the supervisor's exec endpoint. */
  execSocket(): WebSocket {
    return new WebSocket(`ws+unix://${this.socketPath}:/exec`, { maxPayload: 1 << 20 });
  }
}
