/**
 * The router reads every exec frame before relaying it (api/agent/exec.ts is
 * the protocol): a client may send only stdin and `resize`/`eof`, never a
 * second `start` nor anything the agent cannot parse; an agent may send
 * only output and `started`/`exit`/`error`. Nothing here throws.
 */
import {
  describeFieldErrors,
  ExecChannel,
  ExecClientControl,
  ExecServerControl,
} from "@turgon/api/agent";
import type { z } from "zod";

export type Frame<Control> =
  | { ok: true; kind: "data" }
  | { ok: true; kind: "control"; control: Control; text: string }
  | { ok: false; problem: string };

function control<T>(data: Buffer, schema: z.ZodType<T>): Frame<T> {
  let json: unknown;
  try {
    json = JSON.parse(data.toString("utf8"));
  } catch {
    return { ok: false, problem: "a text frame must be a JSON control message" };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, problem: describeFieldErrors(parsed.error) };
  // Re-serialized from what was checked, so only known fields travel on.
  return { ok: true, kind: "control", control: parsed.data, text: JSON.stringify(parsed.data) };
}

/** A frame from the browser or CLI: binary is stdin (channel 0 first), text is `resize` or `eof`. */
export function clientFrame(data: Buffer, binary: boolean): Frame<ExecClientControl> {
  if (!binary) return control(data, ExecClientControl);
  if (data.length === 0 || data[0] !== ExecChannel.stdin)
    return {
      ok: false,
      problem: `a binary frame must start with the stdin channel (${ExecChannel.stdin}), not ${data.length === 0 ? "nothing" : data[0]}`,
    };
  return { ok: true, kind: "data" };
}

/** A frame from the agent: binary is stdout or stderr (channel 1 or 2 first), text is a server control. */
export function agentFrame(data: Buffer, binary: boolean): Frame<ExecServerControl> {
  if (!binary) return control(data, ExecServerControl);
  if (data.length === 0 || (data[0] !== ExecChannel.stdout && data[0] !== ExecChannel.stderr))
    return { ok: false, problem: "a binary frame without an output channel" };
  return { ok: true, kind: "data" };
}
