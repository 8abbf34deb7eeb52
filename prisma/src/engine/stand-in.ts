/**
 * Stands in for Prisma's native schema-engine binary, which the CLI would
 * download (nothing downloads here). The CLI runs it through
 * PRISMA_SCHEMA_ENGINE_BINARY (prisma/bin/schema-engine) with the same
 * arguments and talks JSON-RPC over stdio; every method is answered by
 * @prisma/schema-engine-wasm (the same engine, built for wasm) connected
 * through @prisma/adapter-pg.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import { InvalidDatabaseUrlError } from "../database/url.ts";
import { type EngineDatasource, engineAdapterFactory } from "./adapter.ts";
import { EngineCliError, runCliCommand } from "./cli-commands.ts";
import { serve } from "./rpc.ts";
import { engineVersion, loadSchemaEngine, type SchemaEngine } from "./wasm.ts";

/** One stderr line in the native engine's log format; the CLI shows ERROR lines' messages. */
export function logLine(
  level: "ERROR" | "INFO" | "DEBUG",
  message: string,
  extra: Record<string, unknown> = {},
): string {
  return `${JSON.stringify({
    timestamp: new Date().toISOString(),
    level,
    fields: { message, ...extra },
    target: "schema_engine::logger",
  })}\n`;
}

function parseDatasource(json: string | undefined): EngineDatasource | undefined {
  if (json === undefined) return undefined;
  const value = JSON.parse(json) as { url?: unknown; shadowDatabaseUrl?: unknown };
  if (typeof value.url !== "string" || value.url === "")
    throw new InvalidDatabaseUrlError("the datasource has no url (set DATABASE_URL)");
  return {
    url: value.url,
    shadowDatabaseUrl:
      typeof value.shadowDatabaseUrl === "string" && value.shadowDatabaseUrl
        ? value.shadowDatabaseUrl
        : undefined,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      datamodels: { type: "string", multiple: true },
      datasource: { type: "string" },
      "enabled-preview-features": { type: "string" },
      "extension-types": { type: "string" },
      version: { type: "boolean", short: "V" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.version) {
    process.stdout.write(`schema-engine-cli ${await engineVersion()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(
      "schema-engine (Turgon's offline stand-in over @prisma/schema-engine-wasm)\n" +
        "  --datamodels PATH --datasource JSON   serve JSON-RPC on stdio\n" +
        "  --datasource JSON cli can-connect-to-database|create-database|drop-database\n",
    );
    return 0;
  }
  const datasource = parseDatasource(values.datasource);
  if (positionals[0] === "cli") {
    if (!datasource) throw new InvalidDatabaseUrlError("`cli` commands need --datasource");
    return runCliCommand(positionals[1] ?? "", datasource.url);
  }

  const datamodels: [string, string][] = [];
  for (const path of values.datamodels ?? []) datamodels.push([path, await readFile(path, "utf8")]);
  let engine: Promise<SchemaEngine> | undefined;
  await serve({
    // Loaded on first use, so a CLI that only starts and stops us pays nothing.
    engine: () => {
      engine ??= loadSchemaEngine({
        datamodels: datamodels.length > 0 ? datamodels : undefined,
        adapter: bindMigrationAwareSqlAdapterFactory(
          // Commands that only diff schemas need no database at all.
          engineAdapterFactory(datasource ?? { url: "postgresql://unset@127.0.0.1/unset" }),
        ),
        log: (line) => {
          if (process.env.TURGON_SCHEMA_ENGINE_DEBUG) process.stderr.write(logLine("DEBUG", line));
        },
      });
      return engine;
    },
    input: process.stdin,
    output: process.stdout,
  });
  // A failed load was already answered to every request; only a loaded engine needs freeing.
  await engine?.then(
    (loaded) => loaded.free(),
    () => {},
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const extra = error instanceof EngineCliError ? { error_code: error.errorCode } : {};
    process.stderr.write(
      logLine("ERROR", error instanceof Error ? error.message : String(error), extra),
    );
    process.exit(1);
  },
);
