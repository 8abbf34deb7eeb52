import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { CommandFailedError } from "../errors.ts";

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called for every line the command prints on stdout or stderr. */
  onLine?: (line: string) => void;
  uid?: number;
  gid?: number;
}

export interface RunResult {
  exitCode: number | null;
  /** Everything the command wrote to stdout. */
  stdout: string;
  /** The last lines of combined output, for error messages. */
  tail: string;
}

const TAIL_LINES = 40;

/** Runs a command to completion without throwing on a non-zero exit. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      uid: options.uid,
      gid: options.gid,
    });
    const tail: string[] = [];
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    const collect = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(line);
    };
    createInterface({ input: child.stdout }).on("line", collect);
    createInterface({ input: child.stderr }).on("line", collect);
    child.on("error", reject);
    child.on("close", (exitCode) => resolve({ exitCode, stdout, tail: tail.join("\n") }));
  });
}

/** True when `command` resolves on PATH (or is an existing absolute path). */
export async function commandExists(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  try {
    const result = await run("sh", ["-c", 'command -v "$0"', command], { env });
    return result.exitCode === 0;
  } catch {
    return false;
  }
}

/**
 * Runs a command and returns its stdout, or throws a CommandFailedError
 * naming `what` with the output's tail and a hint for the developer.
 */
export async function runChecked(
  what: string,
  command: string,
  args: string[],
  options: RunOptions & { hint?: string } = {},
): Promise<string> {
  const result = await run(command, args, options);
  if (result.exitCode !== 0) {
    throw new CommandFailedError(
      what,
      `${command} ${args.join(" ")}`,
      result.exitCode,
      result.tail,
      options.hint ?? "See the command's output above.",
    );
  }
  return result.stdout;
}
