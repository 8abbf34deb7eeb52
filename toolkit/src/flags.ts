import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { z } from "zod";

/** One setting of a daemon: its environment variable and what it means. */
export interface FlagSpec {
  env: string;
  description: string;
}

/** Bad flags or environment; the message names each flag and its variable. */
export class ConfigError extends Error {}

/** `--help` text: every flag, its environment variable and its meaning. */
export function flagUsage(command: string, flags: Record<string, FlagSpec>): string {
  const width = Math.max(...Object.keys(flags).map((n) => n.length)) + 2;
  const envWidth = Math.max(...Object.values(flags).map((f) => f.env.length)) + 2;
  const lines = Object.entries(flags).map(
    ([name, f]) => `  --${name.padEnd(width)} ${f.env.padEnd(envWidth)} ${f.description}`,
  );
  const header = `  ${"flag".padEnd(width + 2)} ${"environment variable".padEnd(envWidth)} meaning`;
  return `${command} [flags]\n\n${header}\n${lines.join("\n")}`;
}

/**
 * Reads string flags, then their environment variables, then the schema's
 * defaults. `fill` may add computed defaults before validation. Errors name
 * the flag and its variable.
 */
export function loadFlags<S extends z.ZodType>(options: {
  command: string;
  flags: Record<string, FlagSpec>;
  schema: S;
  argv: string[];
  env: NodeJS.ProcessEnv;
  fill?: (raw: Record<string, unknown>) => void;
}): z.infer<S> {
  const { flags } = options;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: options.argv,
      options: Object.fromEntries(
        Object.keys(flags).map((name) => [name, { type: "string" as const }]),
      ),
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${flagUsage(options.command, flags)}`);
  }
  const raw: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const value = values[name] ?? options.env[spec.env];
    if (value !== undefined && value !== "") raw[name] = value;
  }
  options.fill?.(raw);
  const parsed = options.schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const flag = `--${name} (${flags[name]?.env})`;
      return `${flag}${plainProblem(issue, raw[name]) ?? `: ${issue.message}`}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return parsed.data;
}

/**
 * zod's wording for the two commonest mistakes ("Invalid input: expected
 * number, received NaN") says how zod works, not what to do: a flag that
 * was not given is required, a flag that does not parse must be a number.
 */
function plainProblem(issue: z.core.$ZodIssue, given: unknown): string | undefined {
  if (issue.code !== "invalid_type") return undefined;
  if (given === undefined) return " is required";
  if (issue.expected === "number") return " must be a number";
  if (issue.expected === "int") return " must be a whole number";
  return undefined;
}

/** A file named by a flag cannot be read; the message names the flag. A configuration error too. */
export class FlagFileError extends ConfigError {}

export async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new FlagFileError(`--${flag} ${path}: ${(error as Error).message}`);
  }
}

/** Equality-based label selectors, as kubectl -l takes them: a=b,c!=d,e. */
export const labelSelector = z
  .string()
  .regex(
    /^[A-Za-z0-9./_-]+(\s*(=|==|!=)\s*[A-Za-z0-9._-]*)?(\s*,\s*[A-Za-z0-9./_-]+(\s*(=|==|!=)\s*[A-Za-z0-9._-]*)?)*$/,
    "must be a label selector such as team=ml,tier!=canary",
  );
