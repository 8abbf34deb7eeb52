import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";

export interface EtcdOptions {
  binary: string;
  dir: string;
  clientPort: number;
  peerPort: number;
  /** Skips fsync: for throw-away test clusters only. */
  unsafeNoFsync?: boolean;
}

export function etcdUrl(options: Pick<EtcdOptions, "clientPort">): string {
  return `http://127.0.0.1:${options.clientPort}`;
}

/** Starts a single-member etcd on loopback and waits until it is healthy. */
export async function startEtcd(options: EtcdOptions): Promise<DaemonRecord> {
  const dataDir = join(options.dir, "data");
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const peer = `http://127.0.0.1:${options.peerPort}`;
  const client = etcdUrl(options);
  const logFile = join(options.dir, "etcd.log");
  const record = await startDaemon({
    name: "etcd",
    executable: options.binary,
    args: [
      "--name=turgon",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=turgon=${peer}`,
      "--listen-metrics-urls=",
      "--log-level=warn",
      ...(options.unsafeNoFsync ? ["--unsafe-no-fsync"] : []),
    ],
    logFile,
    pidFile: join(options.dir, "etcd.pid"),
  });
  await waitUntilReady(
    record,
    "etcd /health",
    async () => (await fetch(`${client}/health`)).ok,
    30_000,
  );
  return record;
}
