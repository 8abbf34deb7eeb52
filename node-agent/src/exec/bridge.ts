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
