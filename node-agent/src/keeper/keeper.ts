/**
 * The keeper: runs the node agent as its child and starts it again when it
 * exits by itself, so that in a container, where the keeper is the main
 * process, an agent crash is a process restart and not the end of the
 * container (which would kill every supervisor and its VM). The restarted
 * agent re-adopts the supervisors, as it does after any restart. The keeper
 * never touches supervisors: they belong to the agent.
 */
import { type ChildProcess, spawn } from "node:child_process";
// Not the whole of `@turgon/toolkit/daemon`, which loads the Kubernetes client: the keeper stays small.
import { EXIT, wantsHelp } from "@turgon/toolkit/daemon/run";
import type { Logger } from "../logger.ts";
import { type BackoffPolicy, RESTART_BACKOFF, RestartBackoff } from "./backoff.ts";
import { exitCodeOf } from "./exit-code.ts";

/** The agent's entry in this checkout. */
export const AGENT_MAIN = new URL("../main.ts", import.meta.url).pathname;

/** How long a stopping agent may take before it is killed (its own stop is bounded well below). */
export const STOP_TIMEOUT_MS = 30_000;

export interface KeeperOptions {
  /** The agent's flags, passed on unchanged. */
  args: string[];
  /** The agent's environment (the keeper's own). */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** The agent's entry (this checkout's `main.ts` by default). */
  entry?: string;
  backoff?: BackoffPolicy;
  stopTimeoutMs?: number;
}

export interface Keeper {
  /** The code the keeper exits with. */
  readonly done: Promise<number>;
  /**
   * Stops for good: forwards `signal` to the agent (again on a second call,
   * which the agent takes as "exit now"), kills it past the stop timeout,
   * and never starts it again.
   */
  stop(signal: NodeJS.Signals): void;
  /** The running agent's pid, if one runs. */
  agentPid(): number | undefined;
}

export function startKeeper(options: KeeperOptions): Keeper {
  const { log } = options;
  const entry = options.entry ?? AGENT_MAIN;
  const stopTimeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
  const backoff = new RestartBackoff(options.backoff ?? RESTART_BACKOFF);
  // `--help` (and `--version`, where the agent answers it) are the agent's to answer, once:
  // nothing to keep running, and an exit 0 restarted would print it forever.
  const once = wantsHelp(options.args) || options.args.includes("--version");
  let agent: ChildProcess | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let starts = 0;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const start = () => {
    restartTimer = undefined;
    starts += 1;
    const startedAt = performance.now();
    const child = spawn(process.execPath, [entry, ...options.args], {
      env: options.env,
      stdio: "inherit",
      // A process group of its own: a terminal's Ctrl-C (or `tini -g`) reaches the keeper
      // alone, which passes it on once. Twice would be the agent's "exit now, skip the stop".
      detached: true,
    });
    agent = child;
    // `--help` prints the usage alone on stdout.
    if (!once) log.info({ agentPid: child.pid, start: starts }, "started the node agent");
    let ended = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      agent = undefined;
      clearTimeout(killTimer);
      const ranMs = Math.round(performance.now() - startedAt);
      const exitCode = exitCodeOf(code, signal);
      const fields = { agentPid: child.pid, code, signal, ranMs, ...(error ? { err: error } : {}) };
      if (stopping) {
        log.info(fields, "the node agent stopped");
        return finish(exitCode);
      }
      if (once) return finish(exitCode);
      if (code === EXIT.config) {
        // A restart cannot fix bad flags: exit as the agent did, so the container says so.
        log.error(fields, "the node agent refused its configuration: not restarting it");
        return finish(EXIT.config);
      }
      const delayMs = backoff.delayAfter(ranMs);
      log.warn({ ...fields, restartInMs: delayMs }, "the node agent exited: restarting it");
      restartTimer = setTimeout(start, delayMs);
    };
    child.once("exit", (code, signal) => onEnd(code, signal));
    // The process could not be started at all (no exit follows): counts as an exit.
    child.once("error", (error) => {
      if (child.pid === undefined) onEnd(null, null, error);
      else
        log.error({ err: error, agentPid: child.pid }, "the node agent process reported an error");
    });
  };

  const stop = (signal: NodeJS.Signals) => {
    const first = !stopping;
    stopping = true;
    clearTimeout(restartTimer);
    const running = agent;
    if (!running) {
      log.info({ signal }, "stopping: no node agent runs");
      return finish(EXIT.ok);
    }
    log.info(
      { signal, agentPid: running.pid },
      "stopping: passing the signal on to the node agent",
    );
    running.kill(signal);
    if (!first) return;
    killTimer = setTimeout(() => {
      log.warn(
        { agentPid: running.pid, timeoutMs: stopTimeoutMs },
        "the node agent did not stop in time: killing it",
      );
      running.kill("SIGKILL");
    }, stopTimeoutMs);
  };

  start();
  return { done, stop, agentPid: () => agent?.pid };
}
