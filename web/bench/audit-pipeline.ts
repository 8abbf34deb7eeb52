/**
 * Audit pipeline benchmark (issue 12, throughput half). Synthetic agents
 * append events to the node agent's real AuditSpool; its real AuditShipper
 * ships them to Redis (bullmq); the real worker process commits them to
 * PostgreSQL. Prints events/s from the first append until the last row is
 * committed, the lost and doubled counts, and the ratio to a bare COPY of
 * the same rows into a fresh egress_event table in the same run.
 *
 * PostgreSQL (fsync on, as in production) and Redis (append-only file on)
 * are the benchmark's own, on free loopback ports in a temporary directory.
 * Every loop is bounded in count, and the whole run in time.
 *
 * Usage: node web/bench/audit-pipeline.ts [--events 200000] [--agents 2]
 *   [--concurrency 4] [--max-seconds 600]
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type ScratchRedis, startScratchRedis } from "@turgon/dev/testing";
import { type AuditWorkerProcess, startAuditWorkerProcess } from "@turgon/dev/testing/audit-worker";
import { type ScratchPostgres, startScratchPostgres } from "@turgon/dev/testing/postgres";
import pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { SyntheticAgent } from "../src/worker/synthetic-producer.ts";
import { type AuditDatabase, createAuditDatabase } from "../src/worker/testing.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    agents: { type: "string", default: "2" },
    concurrency: { type: "string", default: "4" },
    "max-seconds": { type: "string", default: "600" },
  },
});
const total = Number(values.events);
const agentCount = Number(values.agents);
const deadline = Date.now() + Number(values["max-seconds"]) * 1000;
const COLUMNS =
  '"id", "time", "node", "namespace", "sandbox", "sandboxUid", "team", "method", "scheme", "host", "port", "path", "status", "decision", "reason", "policy", "secrets", "bytesSent", "bytesReceived", "durationMs"';

class OutOfTime extends Error {}

/** The one row a query returns. */
async function one<R extends pg.QueryResultRow>(
  db: AuditDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<R> {
  const [row] = await db.query<R>(sql, params);
  if (!row) throw new Error(`no row from: ${sql}`);
  return row;
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const fmt = (n: number) => n.toLocaleString("en-US");

async function peakMemoryMb(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Math.round(Number(kb) / 1024) : undefined;
}

/** Spool → Redis → worker → PostgreSQL, timed from the first append to the last row. */
async function runPipeline(db: AuditDatabase, redis: ScratchRedis, dir: string) {
  const agents = await Promise.all(
    Array.from({ length: agentCount }, (_, i) =>
      SyntheticAgent.start(join(dir, `spool-${i}`), redis.url, {
        node: `bench-node-${i}`,
        namespace: `team-${i}`,
      }),
    ),
  );
  const started = performance.now();
  const share = (i: number) => Math.floor(total / agentCount) + (i < total % agentCount ? 1 : 0);
  const producing = Promise.all(agents.map((agent, i) => agent.produce(share(i))));
  void producing.then(() => {
    console.log(
      `  all ${fmt(total)} events appended to the spools after ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
  let rows = 0;
  let lastPrint = 0;
  while (rows < total) {
    if (Date.now() > deadline) throw new OutOfTime(`out of time with ${fmt(rows)} rows`);
    await sleep(250);
    ({ rows } = await one<{ rows: number }>(db, "SELECT count(*)::int AS rows FROM egress_event"));
    const now = performance.now();
    if (now - lastPrint > 2000) {
      lastPrint = now;
      const spooled = agents.reduce((n, a) => n + a.produced, 0);
      const shipped = agents.reduce((n, a) => n + a.shipper.shipped, 0);
      console.log(
        `  ${((now - started) / 1000).toFixed(1).padStart(5)} s  spooled ${fmt(spooled).padStart(7)}  shipped ${fmt(shipped).padStart(7)}  rows ${fmt(rows).padStart(7)}  (${fmt(rate(rows, now - started))} rows/s)`,
      );
    }
  }
  const elapsedMs = performance.now() - started;
  await producing;
  await Promise.all(agents.map((agent) => agent.stop()));
  return { elapsedMs, ids: agents.flatMap((agent) => agent.ids) };
}

/** The same rows, read back, COPYed into a fresh egress_event (same partitions and indexes). */
async function bareCopy(source: AuditDatabase): Promise<{ rows: number; elapsedMs: number }> {
  const chunks: Buffer[] = [];
  const reader = new pg.Client({ connectionString: source.url });
  await reader.connect();
  try {
    await pipeline(
      reader.query(copyTo(`COPY (SELECT ${COLUMNS} FROM egress_event) TO STDOUT`)),
      async (stream: AsyncIterable<Buffer>) => {
        for await (const chunk of stream) chunks.push(chunk);
      },
    );
  } finally {
    await reader.end();
  }
  const fresh = await createAuditDatabase(new URL(source.url).href);
  try {
    // The partitions exist beforehand, as the worker makes them ahead.
    const { days } = await one<{ days: string[] }>(
      source,
      "SELECT array_agg(DISTINCT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')) AS days FROM egress_event",
    );
    await fresh.query("SELECT turgon_audit_ensure_partition(d) FROM unnest($1::date[]) AS d", [
      days,
    ]);
    const writer = new pg.Client({ connectionString: fresh.url });
    await writer.connect();
    try {
      const started = performance.now();
      await pipeline(
        Readable.from(chunks),
        writer.query(copyFrom(`COPY egress_event (${COLUMNS}) FROM STDIN`)),
      );
      const elapsedMs = performance.now() - started;
      const { rows } = await one<{ rows: number }>(
        fresh,
        "SELECT count(*)::int AS rows FROM egress_event",
      );
      return { rows, elapsedMs };
    } finally {
      await writer.end();
    }
  } finally {
    await fresh.drop();
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "turgon-bench-audit-"));
  let postgres: ScratchPostgres | undefined;
  let redis: ScratchRedis | undefined;
  let db: AuditDatabase | undefined;
  let worker: AuditWorkerProcess | undefined;
  try {
    console.log(
      `audit pipeline: ${fmt(total)} events, ${agentCount} agents → Redis → worker → PostgreSQL`,
    );
    [postgres, redis] = await Promise.all([startScratchPostgres(), startScratchRedis()]);
    db = await createAuditDatabase(postgres.url);
    worker = await startAuditWorkerProcess({
      databaseUrl: db.url,
      redisUrl: redis.url,
      flags: { concurrency: Number(values.concurrency), "log-level": "warn" },
      logFile: join(dir, "worker.log"),
    });
    const pipelineRun = await runPipeline(db, redis, dir);
    const [counts] = await db.query<{ rows: number; distinct: number; found: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS distinct,
              count(*) FILTER (WHERE id = ANY($1::uuid[]))::int AS found FROM egress_event`,
      [pipelineRun.ids],
    );
    const { letters } = await one<{ letters: number }>(
      db,
      "SELECT count(*)::int AS letters FROM audit_dead_letter",
    );
    const workerPeakMb = await peakMemoryMb(worker.pid);
    console.log("  bare COPY of the same rows into a fresh egress_event …");
    const copy = await bareCopy(db);
    const pipelineRate = rate(total, pipelineRun.elapsedMs);
    const copyRate = rate(copy.rows, copy.elapsedMs);
    const lost = total - (counts?.found ?? 0);
    const doubled = (counts?.rows ?? 0) - (counts?.distinct ?? 0);
    console.log(`
  measure                          value
  events                           ${fmt(total)}
  spool → rows                     ${(pipelineRun.elapsedMs / 1000).toFixed(1)} s, ${fmt(pipelineRate)} events/s (goal ≥ 5,000)
  lost / doubled / dead-lettered   ${lost} / ${doubled} / ${letters}
  bare COPY of the same rows       ${(copy.elapsedMs / 1000).toFixed(1)} s, ${fmt(copyRate)} rows/s
  pipeline / bare COPY             ${((pipelineRate / copyRate) * 100).toFixed(0)} %
  worker peak RSS                  ${workerPeakMb ?? "?"} MB
`);
    if (lost !== 0 || doubled !== 0 || copy.rows !== total) process.exitCode = 1;
  } finally {
    await worker?.stop();
    await db?.close();
    await Promise.allSettled([postgres?.remove(), redis?.remove()]);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof OutOfTime ? `bench: ${error.message}` : error);
  process.exitCode = 1;
});
