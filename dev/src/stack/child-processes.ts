/**
 * Components as child processes of the one that starts them (tests and
 * benchmarks): started from their own `main.ts`, so kill -9 means a crash,
 * and ready when they log that they serve.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "../paths.ts";
import { type ComponentName, ENTRIES } from "./components.ts";
import type { StartComponent } from "./launch.ts";

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
export async function startProcess(
  component: ComponentName,
  args: string[],
  readyMessage: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Promise<RunningProcess> {
  const child = spawn(process.execPath, [join(repoRoot, ENTRIES[component]), ...args], {
    cwd: repoRoot,
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
        new Error(`${component} not ready in ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`),
      );
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${component} exited with ${code}:\n${lines.slice(-20).join("\n")}`));
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

/** The launcher's way of starting a component as a child process that the caller owns. */
export const startChildProcess: StartComponent<RunningProcess> = async (launch) => {
  const running = await startProcess(launch.component, launch.args, launch.readyMessage);
  return { handle: running, ready: running.ready };
};
