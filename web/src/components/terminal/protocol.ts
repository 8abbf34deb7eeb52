/**
 * The exec protocol as the browser speaks it (api/agent/exec.ts is the
 * contract; the router relays it to the agent): binary frames carry a
 * channel byte then bytes (0 stdin from us; 1 stdout, 2 stderr to us),
 * text frames carry JSON control messages (`resize`, `eof` from us;
 * `started`, `exit`, `error` to us). Types only from @turgon/api, so the
 * browser bundle does not carry the server's schemas.
 */
import type { ExecChannel, ExecClientControl, ExecServerControl } from "@turgon/api/agent";

const STDIN: (typeof ExecChannel)["stdin"] = 0;
const STDOUT: (typeof ExecChannel)["stdout"] = 1;
const STDERR: (typeof ExecChannel)["stderr"] = 2;

const encoder = new TextEncoder();

function framed(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(bytes.length + 1);
  frame[0] = STDIN;
  frame.set(bytes, 1);
  return frame;
}

/** Typed or pasted text (xterm's onData, a UTF-16 string) as a stdin frame of UTF-8 bytes. */
export function stdinFrame(text: string): Uint8Array<ArrayBuffer> {
  return framed(encoder.encode(text));
}

/** xterm's onBinary data (one byte per char, e.g. some mouse reports) as a stdin frame. */
export function binaryStdinFrame(data: string): Uint8Array<ArrayBuffer> {
  return framed(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
}

/** The control message telling the pty its new size. */
export function resizeMessage(cols: number, rows: number): string {
  const message: ExecClientControl = { type: "resize", cols, rows };
  return JSON.stringify(message);
}

export type ServerFrame =
  | { kind: "output"; stream: "stdout" | "stderr"; data: Uint8Array }
  | { kind: "control"; control: ExecServerControl }
  | { kind: "malformed"; problem: string };

/** A frame from the router (ArrayBuffer for binary with binaryType "arraybuffer", string for text). */
export function readServerFrame(data: ArrayBuffer | string): ServerFrame {
  if (typeof data !== "string") {
    const bytes = new Uint8Array(data);
    if (bytes[0] === STDOUT || bytes[0] === STDERR)
      return {
        kind: "output",
        stream: bytes[0] === STDOUT ? "stdout" : "stderr",
        data: bytes.subarray(1),
      };
    return { kind: "malformed", problem: "a binary frame without an output channel" };
  }
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { kind: "malformed", problem: "a text frame that is not JSON" };
  }
  const control = json as Partial<ExecServerControl> | null;
  switch (control?.type) {
    case "started":
      return { kind: "control", control: { type: "started" } };
    case "exit":
      if (typeof control.exitCode === "number")
        return {
          kind: "control",
          control: {
            type: "exit",
            exitCode: control.exitCode,
            ...(typeof control.signal === "number" ? { signal: control.signal } : {}),
          },
        };
      break;
    case "error":
      return {
        kind: "control",
        control: { type: "error", message: String(control.message ?? "unknown error") },
      };
  }
  return { kind: "malformed", problem: `an unknown control message: ${data.slice(0, 100)}` };
}

/** What the terminal shows when a session ends: the process's status, else why the socket closed. */
export function describeEnd(end: {
  exitCode?: number;
  signal?: number;
  closeCode?: number;
  error?: string;
}): string {
  if (end.exitCode !== undefined)
    return end.signal
      ? `Process exited with status ${end.exitCode} (signal ${end.signal})`
      : `Process exited with status ${end.exitCode}`;
  if (end.error) return `The session ended: ${end.error}`;
  if (end.closeCode === 1006)
    return "The connection to the router failed or dropped (the sandbox may have stopped, or the token was refused)";
  return `The connection closed${end.closeCode ? ` (code ${end.closeCode})` : ""}`;
}
