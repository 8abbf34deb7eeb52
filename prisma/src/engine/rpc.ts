import { createInterface } from "node:readline";
import { panicMessage, type SchemaEngine } from "./wasm.ts";

/** A JSON-RPC request from the Prisma CLI, or its answer to one of ours. */
interface Message {
  jsonrpc?: "2.0";
  id?: number | string;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

/** JSON-RPC error as the native engine sends it; the CLI reads `data`. */
interface RpcError {
  code: number;
  message: string;
  data: {
    is_panic: boolean;
    message: string;
    error_code?: string;
    meta?: unknown;
    backtrace?: string;
  };
}

/** The native engine's code for its own errors (as opposed to JSON-RPC's). */
const ENGINE_ERROR = 4466;
const METHOD_NOT_FOUND = -32601;

export type Method = (engine: SchemaEngine, params: unknown, rpc: RpcPeer) => Promise<unknown>;

/** What a method may do besides answering: ask the CLI to print (as `migrate diff` does). */
export interface RpcPeer {
  print(content: string): void;
}

type Params<M extends keyof SchemaEngine> = SchemaEngine[M] extends (input: infer P) => unknown
  ? P
  : never;

/** Calls the engine method of the same name, keeping the wasm binding on `engine`. */
function direct<M extends keyof SchemaEngine>(name: M): Method {
  return (engine, params) =>
    (engine[name] as (input: Params<M>) => Promise<unknown>).call(engine, params as Params<M>);
}

/**
 * The native engine's methods, each answered by the wasm engine. The wasm
 * build returns `diff`'s output instead of printing it through the CLI, and
 * calls getDatabaseVersion `version`.
 */
export const METHODS: Record<string, Method> = {
  applyMigrations: direct("applyMigrations"),
  createMigration: direct("createMigration"),
  dbExecute: direct("dbExecute"),
  devDiagnostic: direct("devDiagnostic"),
  diagnoseMigrationHistory: direct("diagnoseMigrationHistory"),
  ensureConnectionValidity: direct("ensureConnectionValidity"),
  evaluateDataLoss: direct("evaluateDataLoss"),
  introspect: direct("introspect"),
  introspectSql: direct("introspectSql"),
  markMigrationApplied: direct("markMigrationApplied"),
  markMigrationRolledBack: direct("markMigrationRolledBack"),
  reset: direct("reset"),
  schemaPush: direct("schemaPush"),
  getDatabaseVersion: (engine, params) =>
    engine.version((params ?? undefined) as Params<"version">),
  debugPanic: async (engine) => engine.debugPanic(),
  async diff(engine, params, rpc) {
    const { stdout, ...rest } = await engine.diff(params as Params<"diff">);
    if (stdout) rpc.print(stdout.replace(/\n$/, ""));
    return { ...rest, stdout: null };
  },
};

/** Turns whatever the engine threw into the error the CLI understands. */
export function toRpcError(error: unknown): RpcError {
  const panic = panicMessage(error);
  if (panic !== undefined) {
    return { code: ENGINE_ERROR, message: panic, data: { is_panic: true, message: panic } };
  }
  const e = error as { message?: unknown; code?: unknown; meta?: unknown; stack?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(error);
  const data: RpcError["data"] = { is_panic: false, message };
  // User-facing engine errors carry a Prisma code (P3006, P1001, ...).
  if (typeof e?.code === "string") data.error_code = e.code;
  if (e?.meta !== undefined) data.meta = e.meta;
  return { code: ENGINE_ERROR, message, data };
}

/**
 * Serves newline-delimited JSON-RPC on `input`/`output` until `input` ends,
 * one request at a time, as the native engine does.
 */
export async function serve(options: {
  engine: () => Promise<SchemaEngine>;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  methods?: Record<string, Method>;
}): Promise<void> {
  const methods = options.methods ?? METHODS;
  const write = (message: Message) => options.output.write(`${JSON.stringify(message)}\n`);
  let printId = 0;
  const peer: RpcPeer = {
    // The CLI prints `content` and answers; the answer needs no handling.
    print: (content) =>
      write({ jsonrpc: "2.0", id: `print-${++printId}`, method: "print", params: { content } }),
  };
  const lines = createInterface({ input: options.input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request: Message;
    try {
      request = JSON.parse(line) as Message;
    } catch {
      write({
        jsonrpc: "2.0",
        id: 0,
        error: { code: -32700, message: `not JSON: ${line.slice(0, 100)}` },
      });
      continue;
    }
    if (request.method === undefined || request.id === undefined) continue;
    const method = methods[request.method];
    if (!method) {
      write({
        jsonrpc: "2.0",
        id: request.id,
        error: {
          code: METHOD_NOT_FOUND,
          message: `the offline schema engine does not implement ${request.method}`,
        },
      });
      continue;
    }
    try {
      const result = await method(await options.engine(), request.params, peer);
      // `null`, not undefined: the CLI needs a `result` key to settle the call.
      write({ jsonrpc: "2.0", id: request.id, result: result ?? null });
    } catch (error) {
      write({ jsonrpc: "2.0", id: request.id, error: toRpcError(error) });
    }
  }
}
