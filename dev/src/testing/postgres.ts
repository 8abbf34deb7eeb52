/**
 * A PostgreSQL of a test's own (a temporary data directory, a free loopback
 * port), which the test may stop and start: for delivery tests that take
 * the database away. Tests that only need a database use scratch databases
 * on the test platform's server instead.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopDaemon } from "../process/daemon.ts";
import { freePort } from "../process/ports.ts";
import { databaseUrl, startPostgres } from "../services/postgres.ts";

export interface ScratchPostgres {
  /** The turgon database on it. */
  url: string;
  start(): Promise<void>;
  /** A fast shutdown (SIGINT): open connections are ended at once, committed data kept. */
  stop(): Promise<void>;
  /** SIGKILL: a crash; PostgreSQL recovers from its WAL at the next start. */
  crash(): Promise<void>;
  remove(): Promise<void>;
}

export async function startScratchPostgres(): Promise<ScratchPostgres> {
  const dir = await mkdtemp(join(tmpdir(), "turgon-postgres-"));
  // As root PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(dir, 0o755);
  const options = { dataDir: join(dir, "data"), runDir: dir, port: await freePort() };
  const pidFile = join(dir, "postgres.pid");
  const start = async () => {
    await startPostgres(options);
  };
  const stop = async () => {
    await stopDaemon(pidFile, { signal: "SIGINT" });
  };
  await start();
  return {
    url: databaseUrl(options.port),
    start,
    stop,
    async crash() {
      await stopDaemon(pidFile, { signal: "SIGKILL" });
    },
    async remove() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
