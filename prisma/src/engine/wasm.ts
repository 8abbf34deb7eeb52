import { readFile } from "node:fs/promises";
import type { ErrorCapturingSqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import type { SchemaEngine } from "@prisma/schema-engine-wasm";

export type { SchemaEngine };

/** The schema engine panicked; the message is the Rust panic's. */
export class SchemaEnginePanic extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Where the wasm build reports a panic's message before it throws a bare RuntimeError. */
class PanicRegistry {
  message = "";
  set_message(message: string): void {
    this.message = message;
  }
}

const panics = new PanicRegistry();

/** The parts of the WebAssembly global used here (the repository's `lib` has no DOM types). */
interface WebAssemblyApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
  RuntimeError: abstract new (...args: never[]) => Error;
}

const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The panic message behind a RuntimeError from the wasm module, if it was a panic. */
export function panicMessage(error: unknown): string | undefined {
  if (error instanceof wasm.RuntimeError && panics.message) return panics.message;
  return undefined;
}

type Bindings = typeof import("@prisma/schema-engine-wasm/schema_engine_bg") & {
  __wbg_set_wasm(exports: Record<string, unknown>): void;
};

let loaded: Promise<Bindings> | undefined;

/**
 * Instantiates the wasm module by hand: the package's entry imports the
 * `.wasm` file as an ES module, which Node only does behind a flag.
 */
function bindings(): Promise<Bindings> {
  loaded ??= (async () => {
    (globalThis as { PRISMA_WASM_PANIC_REGISTRY?: PanicRegistry }).PRISMA_WASM_PANIC_REGISTRY =
      panics;
    const glueUrl = import.meta.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const glue = (await import(glueUrl)) as Bindings;
    const bytes = await readFile(new URL("schema_engine_bg.wasm", glueUrl));
    const { instance } = await wasm.instantiate(bytes, {
      "./schema_engine_bg.js": glue as unknown as Record<string, unknown>,
    });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return loaded;
}

/** The engine build's commit, which `schema-engine --version` reports. */
export async function engineVersion(): Promise<string> {
  return (await bindings()).version();
}

export async function loadSchemaEngine(options: {
  /** [path, content] of each schema file, or none for commands that take schemas as input. */
  datamodels: [string, string][] | undefined;
  adapter: ErrorCapturingSqlMigrationAwareDriverAdapterFactory;
  log: (line: string) => void;
}): Promise<SchemaEngine> {
  const { SchemaEngine } = await bindings();
  return SchemaEngine.new({ datamodels: options.datamodels }, options.log, options.adapter);
}
