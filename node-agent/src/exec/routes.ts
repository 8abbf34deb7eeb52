import {
  AGENT_API_PREFIX,
  describeFieldErrors,
  ExecOnceRequest,
  ExecStart,
  fieldErrors,
} from "@turgon/api/agent";
import type { FastifyInstance } from "fastify";
import { CONTROL_PLANE } from "../api/auth.ts";
import type { Logger } from "../logger.ts";
import type { SandboxHandle } from "../sandboxes/handle.ts";
import type { SandboxManager } from "../sandboxes/manager.ts";
import { parseJson, send } from "./bridge.ts";

function runningSandbox(manager: SandboxManager, uid: string): SandboxHandle | string {
  const sandbox = manager.get(uid);
  if (!sandbox) return `no sandbox ${uid} on this node`;
  if (sandbox.phase !== "Running" || !sandbox.vm) return `sandbox ${uid} is ${sandbox.phase}`;
  return sandbox;
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
      const running = runningSandbox(manager, request.params.uid);
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
        // In process, or relayed frame for frame to the sandbox's supervisor.
        running.attachExec(socket, start.data, log);
      });
    },
  );

  app.post<{ Params: { uid: string } }>(
    `${AGENT_API_PREFIX}/sandboxes/:uid/exec`,
    { config: { callers: CONTROL_PLANE } },
    async (request, reply) => {
      const running = runningSandbox(manager, request.params.uid);
      const vm = typeof running === "string" ? undefined : running.vm;
      if (typeof running === "string" || !vm)
        return reply.code(manager.get(request.params.uid) ? 409 : 404).send({
          error: "NotRunning",
          message: typeof running === "string" ? running : `sandbox is ${running.phase}`,
        });
      const parsed = ExecOnceRequest.safeParse(request.body);
      if (!parsed.success) {
        return reply.code(400).send({
          error: "InvalidExec",
          message: describeFieldErrors(parsed.error),
          fields: fieldErrors(parsed.error),
        });
      }
      const { command, stdin, env, cwd, timeoutMs } = parsed.data;
      running.touch();
      const result = await vm.exec(command, {
        ...(stdin !== undefined ? { stdin } : {}),
        ...(env ? { env } : {}),
        ...(cwd ? { cwd } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        timeoutMs,
      });
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    },
  );
}
