/**
 * Real processes for operator tests and benchmarks: node agents and operator
 * replicas started from their own `main.ts`, so kill -9 means what it says.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  /** The fields of the log line that said the process was ready. */
  ready: Record<string, unknown>;
  /** Everything it logged, newest last (bounded). */
  lines: string[];
  /** SIGKILL: no cleanup, no lease release, as a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

/** Starts a component's `main.ts` with flags and waits for the log line `readyMessage`. */
const ENTRIES = {
  operator: "operator/src/main.ts",
  router: "operator/src/router/main.ts",
  "node-agent": "node-agent/src/main.ts",
} as const;

export async function startProcess(
  workspace: keyof typeof ENTRIES,
  args: string[],
  readyMessage: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Promise<RunningProcess> {
  const child = spawn(process.execPath, [`${ROOT}${ENTRIES[workspace]}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, TURGON_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > 2000) lines.shift();
  };
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", remember);
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // A process that never gets ready is killed, not left behind.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${workspace} not ready in ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`),
      );
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${workspace} exited with ${code}:\n${lines.slice(-20).join("\n")}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      remember(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === readyMessage) {
          clearTimeout(timer);
          resolve(entry);
        }
      } catch {
        // not a log line
      }
    });
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return { child, ready, lines, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

/** Polls `read` until `accept` holds, or fails with the last value seen. */
export async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `${what}: not within ${timeoutMs} ms; last value ${JSON.stringify(last)}${lastError ? `; last error ${(lastError as Error).message}` : ""}`,
  );
}
