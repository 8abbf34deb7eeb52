import {
  AGENT_API_PREFIX,
  describeFieldErrors,
  ExecChannel,
  ExecClientControl,
  ExecOnceRequest,
  type ExecServerControl,
  ExecStart,
  fieldErrors,
} from "@turgon/api/agent";
import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { CONTROL_PLANE } from "../api/auth.ts";
import type { Logger } from "../logger.ts";
import type { SandboxManager } from "../sandboxes/manager.ts";
import type { ManagedSandbox } from "../sandboxes/sandbox.ts";
import type { SandboxVm } from "../vm/launcher.ts";

const send = (socket: WebSocket, message: ExecServerControl) =>
  socket.send(JSON.stringify(message));

/** A client's text frame as JSON, or undefined when it is not JSON: client input never throws. */
function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
}

function runningVm(
  manager: SandboxManager,
  uid: string,
): { vm: SandboxVm; sandbox: ManagedSandbox } | string {
  const sandbox = manager.get(uid);
  if (!sandbox) return `no sandbox ${uid} on this node`;
  if (sandbox.phase !== "Running" || !sandbox.vm) return `sandbox ${uid} is ${sandbox.phase}`;
  return { vm: sandbox.vm, sandbox };
}

/**
 * Bridges one WebSocket to one `vm.exec`: stdin, stdout/stderr, resize, exit
 * status. Starting the session and typing into it count as activity (idleTimeout).
 */
function bridge(
  socket: WebSocket,
  { vm, sandbox }: { vm: SandboxVm; sandbox: ManagedSandbox },
  start: ExecStart,
  log: Logger,
): void {
  sandbox.touch();
  const process = vm.exec(start.command, {
    pty: start.tty,
    stdin: true,
    stdout: "pipe",
    stderr: "pipe",
    ...(start.env ? { env: start.env } : {}),
    ...(start.cwd ? { cwd: start.cwd } : {}),
  });
  if (start.tty) process.resize(start.rows, start.cols);
  const forward = (channel: number) => (chunk: Buffer) => {
    if (socket.readyState === socket.OPEN) socket.send(Buffer.concat([Buffer.of(channel), chunk]));
  };
  process.stdout?.on("data", forward(ExecChannel.stdout));
  process.stderr?.on("data", forward(ExecChannel.stderr));
  send(socket, { type: "started" });

  socket.on("message", (data: Buffer, isBinary: boolean) => {
    sandbox.touch();
    if (isBinary) {
      if (data[0] === ExecChannel.stdin) process.write(data.subarray(1));
      return;
    }
    const control = ExecClientControl.safeParse(parseJson(data));
    if (!control.success)
      return send(socket, {
        type: "error",
        message: describeFieldErrors(control.error),
      });
    if (control.data.type === "resize") process.resize(control.data.rows, control.data.cols);
    else process.end();
  });
  let exited = false;
  // A client that goes away ends the session's stdin; the command may still finish. No hang-up
  // reaches a guest pty (Gondolin keeps it open), so a terminal session gets what its user would
  // type: ^C for the foreground job (and a half-typed line), then the end of input for the shell.
  socket.on("close", () => {
    if (start.tty && !exited) process.write(Buffer.from("\x03"));
    process.end();
  });

  Promise.resolve(process).then(
    (result) => {
      exited = true;
      send(socket, {
        type: "exit",
        exitCode: result.exitCode,
        ...(result.signal ? { signal: result.signal } : {}),
      });
      socket.close(1000, "exited");
    },
    (error: Error) => {
      log.warn({ err: error.message }, "exec failed");
      send(socket, { type: "error", message: error.message });
      socket.close(1011, "exec failed");
    },
  );
}

/**
 * Exec routes on the agent API: interactive over a WebSocket, and one-shot.
 * Expects @fastify/websocket registered.
 */
export function registerExecRoutes(
  app: FastifyInstance,
  manager: SandboxManager,
  log: Logger,
): void {
  app.get<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid/exec`,
    { websocket: true, config: { callers: CONTROL_PLANE } },
    (socket, request) => {
      const running = runningVm(manager, request.params.uid);
      if (typeof running === "string") {
        send(socket, { type: "error", message: running });
        socket.close(1008, "sandbox not running");
        return;
      }
      socket.once("message", (data: Buffer, isBinary: boolean) => {
        const start = ExecStart.safeParse(isBinary ? undefined : parseJson(data));
        if (!start.success) {
          send(socket, {
            type: "error",
            message: `first message must be {"type":"start",...}: ${describeFieldErrors(start.error)}`,
          });
          socket.close(1008, "bad start");
          return;
        }
        bridge(socket, running, start.data, log);
      });
    },
  );

  app.post<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid/exec`,
    { config: { callers: CONTROL_PLANE } },
    async (request, reply) => {
      const running = runningVm(manager, request.params.uid);
      if (typeof running === "string")
        return reply
          .code(manager.get(request.params.uid) ? 409 : 404)
          .send({ error: "NotRunning", message: running });
      const parsed = ExecOnceRequest.safeParse(request.body);
      if (!parsed.success) {
        return reply.code(400).send({
          error: "InvalidExec",
          message: describeFieldErrors(parsed.error),
          fields: fieldErrors(parsed.error),
        });
      }
      const { command, stdin, env, cwd, timeoutMs } = parsed.data;
      running.sandbox.touch();
      const result = await running.vm.exec(command, {
        ...(stdin !== undefined ? { stdin } : {}),
        ...(env ? { env } : {}),
        ...(cwd ? { cwd } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    },
  );
}
