import { ConfigError } from "../flags.ts";
import type { Logger } from "../logger.ts";
import { logLevelFromEnv } from "./log-level.ts";
import { releaseVersion, wantsVersion } from "./version.ts";

/** What a daemon's process exits with: the numbers its supervisor (kubelet, npm run up) sees. */
export const EXIT = {
  /** Stopped by SIGTERM/SIGINT after a graceful stop. */
  ok: 0,
  /** Failed while starting or running (the fatal log line says why), or a graceful stop failed. */
  failed: 1,
  /** Refused its configuration: flags, environment, kubeconfig, files named by flags. */
  config: 2,
} as const;

export interface Daemon<Config, Running extends { stop(): Promise<void> }> {
  /** The component (`operator`): the command is `turgon-<name>`. */
  name: string;
  /** `--help` text. */
  usage(): string;
  /** The release's version, printed by `--version` and under `--help` (default: {@link releaseVersion}). */
  version?: string;
  /** The component's one logger; the scaffold sets its level from TURGON_LOG_LEVEL. */
  log: Logger;
  /** Reads flags and environment; throws ConfigError naming the flag. */
  load(argv: string[], env: NodeJS.ProcessEnv): Config;
  /** Starts serving; a ConfigError thrown here (an unreadable file, no kubeconfig) is a configuration error. */
  start(config: Config, control: DaemonControl): Promise<Running>;
  /** Fields of the "<name> started" log line; without it the component says when it is ready. */
  started?(running: Running): Record<string, unknown>;
  /** What stopping does, for the log line ("shutting down: closing VMs"). */
  stopping?: string;
}

export interface DaemonControl {
  /** Logs fatal and exits 1 at once, as controller-runtime does on losing its lease. */
  fail(message: string): never;
}

export interface DaemonIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  exit(code: number): never;
  onSignal(signal: NodeJS.Signals, handler: () => void): void;
}

const PROCESS_IO: DaemonIo = {
  argv: process.argv.slice(2),
  env: process.env,
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  exit: (code) => process.exit(code),
  onSignal: (signal, handler) => process.on(signal, handler),
};

/** `--help` or `-h` anywhere on the command line. */
export function wantsHelp(argv: string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

/**
 * Runs one Turgon daemon the same way for all of them:
 * 1. `--help`/`-h`: usage and `turgon-<name> <version>` on stdout, exit 0,
 *    before anything else is read; `--version`: that last line alone;
 * 2. TURGON_LOG_LEVEL checked, then flags and environment loaded;
 * 3. started; SIGTERM/SIGINT stop it gracefully once and exit 0 (a second
 *    signal during the stop exits 1 at once).
 * A ConfigError (bad flag, variable, file or kubeconfig) prints
 * `turgon-<name>: <message>` on stderr and exits 2; any other start failure
 * is a fatal log line and exit 1.
 */
export async function runDaemon<Config, Running extends { stop(): Promise<void> }>(
  daemon: Daemon<Config, Running>,
  io: DaemonIo = PROCESS_IO,
): Promise<void> {
  const command = `turgon-${daemon.name}`;
  const versionLine = `${command} ${daemon.version ?? releaseVersion()}`;
  if (wantsHelp(io.argv)) {
    io.stdout(`${daemon.usage()}\n\n${versionLine}`);
    return io.exit(EXIT.ok);
  }
  if (wantsVersion(io.argv)) {
    io.stdout(versionLine);
    return io.exit(EXIT.ok);
  }
  const { log } = daemon;
  let running: Running;
  try {
    log.level = logLevelFromEnv(io.env);
    const config = daemon.load(io.argv, io.env);
    running = await daemon.start(config, {
      fail(message) {
        log.fatal(message);
        return io.exit(EXIT.failed);
      },
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`${command}: ${error.message}`);
      return io.exit(EXIT.config);
    }
    log.fatal({ err: error }, `${daemon.name} failed to start`);
    return io.exit(EXIT.failed);
  }
  if (daemon.started) log.info(daemon.started(running), `${daemon.name} started`);
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    // A second signal while stopping (Ctrl-C twice) gives up on the graceful stop, as the
    // default action of a signal would.
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without waiting for the graceful stop");
      return io.exit(EXIT.failed);
    }
    stopping = true;
    log.info({ signal }, daemon.stopping ? `shutting down: ${daemon.stopping}` : "shutting down");
    try {
      await running.stop();
    } catch (error) {
      log.fatal({ err: error }, "graceful stop failed");
      return io.exit(EXIT.failed);
    }
    return io.exit(EXIT.ok);
  };
  io.onSignal("SIGTERM", () => void shutdown("SIGTERM"));
  io.onSignal("SIGINT", () => void shutdown("SIGINT"));
}
