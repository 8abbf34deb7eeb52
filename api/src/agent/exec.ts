/**
 * The exec protocol between the router (or any client) and the agent.
 *
 * WebSocket `GET /v1/sandboxes/:uid/exec`: the client's first text frame is
 * `start`; afterwards binary frames carry stream bytes, first byte the
 * channel (0 stdin from the client; 1 stdout, 2 stderr from the agent), and
 * text frames carry JSON control messages (`resize`, `eof`; `started`,
 * `exit`, `error`). With a tty, stdout and stderr arrive merged on 1.
 *
 * One-shot `POST /v1/sandboxes/:uid/exec`: runs a command to completion.
 */
import { z } from "zod";
import { envVarName } from "../crd/common.ts";

export const ExecChannel = { stdin: 0, stdout: 1, stderr: 2 } as const;

const command = z.union([
  z.string().min(1).max(65_536),
  z.array(z.string().max(65_536)).min(1).max(1024),
]);
const cols = z.int().min(1).max(1000);
const rows = z.int().min(1).max(1000);

export const ExecStart = z.strictObject({
  type: z.literal("start"),
  command: command.default(["/bin/bash", "-l"]),
  tty: z.boolean().default(false),
  cols: cols.default(80),
  rows: rows.default(24),
  env: z.record(envVarName, z.string()).optional(),
  cwd: z.string().startsWith("/").optional(),
});
export type ExecStart = z.infer<typeof ExecStart>;

export const ExecClientControl = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("resize"), cols, rows }),
  z.strictObject({ type: z.literal("eof") }),
]);
export type ExecClientControl = z.infer<typeof ExecClientControl>;

export const ExecServerControl = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("started") }),
  z.strictObject({ type: z.literal("exit"), exitCode: z.int(), signal: z.int().optional() }),
  z.strictObject({ type: z.literal("error"), message: z.string() }),
]);
export type ExecServerControl = z.infer<typeof ExecServerControl>;

export const ExecOnceRequest = z.strictObject({
  command,
  stdin: z
    .string()
    .max(1 << 20)
    .optional(),
  env: z.record(envVarName, z.string()).optional(),
  cwd: z.string().startsWith("/").optional(),
  timeoutMs: z.int().min(100).max(3_600_000).default(60_000),
});
export type ExecOnceRequest = z.infer<typeof ExecOnceRequest>;

export const ExecOnceResult = z.strictObject({
  exitCode: z.int(),
  stdout: z.string(),
  stderr: z.string(),
});
export type ExecOnceResult = z.infer<typeof ExecOnceResult>;
