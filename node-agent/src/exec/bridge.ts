import { randomUUID } from "node:crypto";
import {
  describeFieldErrors,
  ExecChannel,
  ExecClientControl,
  type ExecServerControl,
  type ExecStart,
} from "@turgon/api/agent";
import type { WebSocket } from "ws";
import type { Logger } from "../logger.ts";
import type { SandboxVm } from "../vm/launcher.ts";
import { hangUpCommand, leaderFile, recordingLeader } from "./hang-up.ts";

export const send = (socket: WebSocket, message: ExecServerControl) =>
  socket.send(JSON.stringify(message));

/** A client's text frame as JSON, or undefined when it is not JSON: client input never throws. */
export function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Bridges one WebSocket to one `vm.exec`: stdin, stdout/stderr, resize, exit
 * status. Starting the session and typing into it count as activity (idleTimeout).
 */
export function bridgeExec(
  socket: WebSocket,
  vm: Pick<SandboxVm, "exec">,
  start: ExecStart,
  log: Logger,
  touch: () => void,
): void {
  touch();
  // A terminal's command records its session's leader, so that closing the tab can hang it up.
  const leader = start.tty ? leaderFile(randomUUID()) : undefined;
  const process = vm.exec(leader ? recordingLeader(leader, start.command) : start.command, {
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
    touch();
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
  // A client that goes away ends the session's stdin; a command may still finish. A terminal
  // is hung up, as closing a real one does: its shell and the shell's jobs get SIGHUP.
  socket.on("close", () => {
    process.end();
    if (leader && !exited)
      run(vm, hangUpCommand(leader), log, "hanging up a closed terminal's session failed");
  });

  Promise.resolve(process).then(
    (result) => {
      exited = true;
      if (leader)
        run(vm, ["/bin/rm", "-f", leader], log, "removing a terminal's leader file failed");
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

/** Runs a housekeeping command in the guest; its failure is logged, never thrown. */
function run(vm: Pick<SandboxVm, "exec">, command: string[], log: Logger, failed: string): void {
  Promise.resolve(vm.exec(command)).then(
    (result) => {
      if (result.exitCode !== 0) log.warn({ exitCode: result.exitCode }, failed);
    },
    (error: Error) => log.warn({ err: error.message }, failed),
  );
}
