import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

export { UsageError };

/** What a developer command takes: shown by --help, enforced on every run. */
export interface CommandSpec {
  /** As typed, e.g. "npm run up --". */
  command: string;
  summary: string;
  /** Positional arguments, e.g. "[recipe ...]"; none are accepted when unset. */
  positionals?: { usage: string; description: string };
  options?: Record<string, { type: "string" | "boolean"; description: string }>;
  /** Environment variables the command reads, and what each means. */
  environment?: Record<string, string>;
}

export function commandUsage(spec: CommandSpec): string {
  const options: NonNullable<CommandSpec["options"]> = {
    ...spec.options,
    help: { type: "boolean", description: "print this help and exit" },
  };
  const lines = [
    `${spec.command}${spec.options ? " [options]" : ""}${spec.positionals ? ` ${spec.positionals.usage}` : ""}`,
    "",
    spec.summary,
  ];
  if (spec.positionals)
    lines.push("", `  ${spec.positionals.usage}  ${spec.positionals.description}`);
  const names = Object.entries(options).map(([name, option]) => [
    `--${name}${option.type === "string" ? " <value>" : ""}`,
    option.description,
  ]);
  lines.push("", "options:", ...table(names));
  if (spec.environment && Object.keys(spec.environment).length > 0)
    lines.push("", "environment:", ...table(Object.entries(spec.environment)));
  return lines.join("\n");
}

function table(rows: string[][]): string[] {
  const width = Math.max(...rows.map(([left]) => left?.length ?? 0)) + 2;
  return rows.map(([left = "", right = ""]) => `  ${left.padEnd(width)}${right}`);
}

export interface ParsedCommandLine {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Reads a developer command's arguments. With --help (or -h) it prints the
 * usage and returns undefined: the caller then does nothing else. An unknown
 * option, a missing value or an unexpected positional is a UsageError.
 */
export function readCommandLine(
  spec: CommandSpec,
  argv: string[] = process.argv.slice(2),
): ParsedCommandLine | undefined {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(
          Object.entries(spec.options ?? {}).map(([name, { type }]) => [name, { type }]),
        ),
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: spec.positionals !== undefined,
    });
  } catch (error) {
    throw new UsageError(cleanParseError(error as Error), spec.command);
  }
  if (parsed.values.help) {
    console.log(commandUsage(spec));
    return undefined;
  }
  // No option is declared `multiple`, so no value is an array.
  return {
    values: parsed.values as ParsedCommandLine["values"],
    positionals: parsed.positionals,
  };
}

/** node:util's messages, without the advice to use "--" that does not apply here. */
function cleanParseError(error: Error): string {
  return error.message.replace(/\. To specify a positional argument.*$/s, "");
}
