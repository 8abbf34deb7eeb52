import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DebianPackage } from "@turgon/toolkit/apt";
import { commandExists } from "@turgon/toolkit/run";
import { Redis } from "ioredis";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";

export const redisPackage: DebianPackage = {
  name: "redis-server",
  isInstalled: () => commandExists("redis-server"),
};

export interface RedisOptions {
  dir: string;
  port: number;
  /** Keeps no append-only file: for throw-away test instances only. */
  ephemeral?: boolean;
}

export function redisUrl(port: number): string {
  return `redis://127.0.0.1:${port}`;
}

/** Starts redis-server on loopback with its own data directory. */
export async function startRedis(options: RedisOptions): Promise<DaemonRecord> {
  const dataDir = join(options.dir, "data");
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const record = await startDaemon({
    name: "redis",
    executable: "redis-server",
    args: [
      "--bind",
      "127.0.0.1",
      "--port",
      String(options.port),
      "--dir",
      dataDir,
      "--daemonize",
      "no",
      // Audit events queue here on their way to Postgres: keep them across restarts.
      "--appendonly",
      options.ephemeral ? "no" : "yes",
      "--save",
      "",
    ],
    logFile: join(options.dir, "redis.log"),
    pidFile: join(options.dir, "redis.pid"),
  });
  await waitUntilReady(record, "Redis PING", () => ping(options.port), 30_000);
  return record;
}

async function ping(port: number): Promise<boolean> {
  const client = new Redis(port, "127.0.0.1", {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => {
    // Refused connections while redis starts are expected; connect() rejects.
  });
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } finally {
    client.disconnect();
  }
}
