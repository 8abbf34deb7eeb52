/**
 * Audit page benchmark (issue 12, the query and export half). On the
 * throw-away test platform, with a dashboard (the cached build) on a
 * scratch database, prints:
 *   1. the time to COPY --rows synthetic egress events (default 1,000,000)
 *      spread over 30 days, with a realistic host and decision mix;
 *   2. p50/p90 of the audit list query (the page's own code, listEgress, as
 *      an admin and as team members) for the first page without filters,
 *      a host filter, a wildcard host filter, a 24 h denied-only filter,
 *      a deep keyset page, the live tail's read and the summaries;
 *   3. p50/p90 of `audit.list` over HTTP as the browser calls it, and an
 *      export of every row through /api/audit/export: rows/s and the
 *      dashboard server's peak RSS;
 *   4. the same export code in a process of its own (CSV, NDJSON, and CSV
 *      under a 64 MB heap): rows/s, peak RSS, JS heap and Buffers.
 * Every loop is bounded in count, and the whole run in time.
 *
 * Usage: node web/bench/audit-query.ts [--rows 1000000] [--iterations 40]
 *   [--max-seconds 1500]   (`npm run bench:audit:query`)
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { globalSetup, globalTeardown } from "@turgon/dev/testing/platform";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { AuditFilter, type AuditFilterInput } from "../src/lib/audit.ts";
import {
  type AuditAccess,
  egressHead,
  listEgress,
  summarizeEgress,
  tailEgress,
} from "../src/server/audit/query.ts";
import { ensurePartitions } from "../src/server/audit/testing.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    iterations: { type: "string", default: "40" },
    "max-seconds": { type: "string", default: "1500" },
  },
});
const rowCount = Number(values.rows);
const iterations = Number(values.iterations);
const deadline = Date.now() + Number(values["max-seconds"]) * 1000;
const DAY = 86_400_000;

class OutOfTime extends Error {}
function inTime(what: string): void {
  if (Date.now() > deadline) throw new OutOfTime(`out of time (--max-seconds) during ${what}`);
}
const log = (line: string) => process.stdout.write(`${line}\n`);

/** A deterministic generator (mulberry32), so runs are comparable. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Package registries and source hosts dominate, as in CI-like sandboxes; a
// long tail of API hosts; denied requests mostly to hosts not on the list.
const ALLOWED_HOSTS = [
  ["registry.npmjs.org", 30],
  ["pypi.org", 14],
  ["files.pythonhosted.org", 14],
  ["api.github.com", 10],
  ["github.com", 8],
  ["objects.githubusercontent.com", 6],
  ["deb.debian.org", 5],
  ["proxy.golang.org", 4],
  ["api.openai.com", 3],
  ["api.anthropic.com", 3],
  ...Array.from({ length: 30 }, (_, i) => [`api-${i}.internal-tools.example.com`, 0.3] as const),
] as const;
const DENIED_HOSTS = [
  ["telemetry.example.net", 5],
  ["pastebin.com", 2],
  ["169.254.169.254", 1],
  ["raw.githubusercontent.com", 2],
  ...Array.from({ length: 40 }, (_, i) => [`tracker-${i}.ads.example.org`, 0.2] as const),
] as const;

function picker(table: readonly (readonly [string, number])[]): (r: number) => string {
  const total = table.reduce((sum, [, w]) => sum + w, 0);
  return (r) => {
    let x = r * total;
    for (const [host, weight] of table) {
      x -= weight;
      if (x <= 0) return host;
    }
    return table[0]?.[0] as string;
  };
}

/** COPY text format: tab-separated, \N for null, backslash escapes. */
const cell = (v: string | number | null) =>
  v === null ? "\\N" : String(v).replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n");

/** Synthetic rows, oldest first (so seq follows time, as it roughly does in production). */
function* syntheticRows(count: number, now: number): Generator<string> {
  const next = random(42);
  const allowed = picker(ALLOWED_HOSTS);
  const denied = picker(DENIED_HOSTS);
  // Inside the 30-day window for the whole run (the export's window is taken minutes later).
  const start = now - 30 * DAY + 3_600_000;
  const step = (30 * DAY - 2 * 3_600_000) / count;
  for (let i = 0; i < count; i++) {
    const team = Math.floor(next() * 20);
    const namespace = `team-${team}-${Math.floor(next() * 3)}`;
    const sandbox = `sb-${Math.floor(next() * 10)}`;
    const roll = next();
    const decision = roll < 0.08 ? "denied" : roll < 0.1 ? "would-deny" : "allowed";
    const host = decision === "allowed" ? allowed(next()) : denied(next());
    const status =
      decision === "denied"
        ? 403
        : next() < 0.02
          ? null
          : next() < 0.9
            ? 200
            : next() < 0.5
              ? 404
              : 502;
    const method = next() < 0.85 ? "GET" : next() < 0.7 ? "POST" : "PUT";
    const secrets =
      host === "api.github.com"
        ? "{GITHUB_TOKEN}"
        : host.startsWith("api.") && next() < 0.5
          ? "{API_KEY}"
          : "{}";
    const time = new Date(start + i * step + next() * step).toISOString();
    yield `${[
      randomUUID(),
      time,
      `node-${team % 4}`,
      namespace,
      sandbox,
      `uid-${namespace}-${sandbox}`,
      `team-${team}`,
      method,
      "https",
      host,
      443,
      `/v1/things/${Math.floor(next() * 1000)}`,
      status,
      decision,
      decision === "allowed" ? "allowedHosts" : "host not in allowedHosts",
      `policy-${team}`,
      secrets,
      Math.floor(next() * 4000),
      decision === "denied" ? 0 : Math.floor(next() * 200_000),
      Math.floor(next() * 800),
    ]
      .map(cell)
      .join("\t")}\n`;
  }
}

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

async function measure(name: string, run: () => Promise<unknown>): Promise<void> {
  await run(); // warm: plans and pages cached, as on a page in use
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    inTime(name);
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  log(
    `  ${name.padEnd(58)} p50 ${percentile(times, 50).toFixed(1).padStart(7)} ms   p90 ${percentile(times, 90).toFixed(1).padStart(7)} ms`,
  );
}

interface ExportResult {
  rows: number;
  bytes: number;
  seconds: number;
  peakRssMb: number;
  baseRssMb: number;
  peakHeapMb: number;
  peakBuffersMb: number;
}

function exportInChild(
  databaseUrl: string,
  format: string,
  nodeFlags: string[] = [],
): Promise<ExportResult> {
  const child = fileURLToPath(new URL("./audit-export-child.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeFlags, child, databaseUrl, format],
      { timeout: Math.max(10_000, deadline - Date.now()), maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`export child failed: ${stderr || error.message}`));
        else resolve(JSON.parse(stdout.trim().split("\n").at(-1) as string) as ExportResult);
      },
    );
  });
}

/** The dashboard server's resident memory, from /proc. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

async function signIn(dashboard: TestDashboard): Promise<string> {
  const response = await fetch(`${dashboard.url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: dashboard.url },
    body: JSON.stringify(dashboard.admin),
  });
  if (response.status !== 200) throw new Error(`sign-in: ${response.status}`);
  return response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

/**
 * What the browser waits for: `audit.list` over HTTP (tRPC, session cookie),
 * and an export through the route, with the dashboard server's peak RSS.
 */
async function overHttp(dashboard: TestDashboard): Promise<void> {
  const cookie = await signIn(dashboard);
  const call = (filter: AuditFilterInput) => async () => {
    const input = encodeURIComponent(JSON.stringify({ json: { filter, limit: 50 } }));
    const response = await fetch(`${dashboard.url}/api/trpc/audit.list?input=${input}`, {
      headers: { cookie },
    });
    if (response.status !== 200) throw new Error(`audit.list: ${response.status}`);
    await response.arrayBuffer();
  };
  log(`==> audit.list over HTTP (tRPC, signed in as the admin), ${iterations} iterations each`);
  await measure("HTTP first page, no filter (30 d)", call({ range: "30d" }));
  await measure(
    "HTTP first page, host=api.github.com (30 d)",
    call({ range: "30d", host: "api.github.com" }),
  );
  await measure("HTTP first page, 24 h, decision=denied", call({ decision: "denied" }));

  inTime("export over HTTP");
  log("==> export of every row (30 d) as csv through /api/audit/export (the dashboard server)");
  const baseRss = await rssOf(dashboard.pid);
  let peakRss = baseRss;
  const sampler = setInterval(() => {
    rssOf(dashboard.pid).then(
      (mb) => {
        peakRss = Math.max(peakRss, mb);
      },
      () => undefined,
    );
  }, 50);
  const started = performance.now();
  const response = await fetch(`${dashboard.url}/api/audit/export?format=csv&range=30d`, {
    headers: { cookie },
  });
  let bytes = 0;
  let lines = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = view.indexOf(10); at >= 0; at = view.indexOf(10, at + 1)) lines++;
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const rows = lines - 1; // the header
  log(
    `    ${rows.toLocaleString("en")} rows, ${(bytes / 1e6).toFixed(0)} MB in ${seconds.toFixed(1)} s: ${Math.round(rows / seconds).toLocaleString("en")} rows/s; dashboard RSS ${baseRss.toFixed(0)} MB before, peak ${peakRss.toFixed(0)} MB`,
  );
}

async function main(): Promise<void> {
  log("==> starting a throw-away PostgreSQL (the test platform)");
  await globalSetup();
  log("==> starting a dashboard (the cached build) on its own scratch database");
  const dashboard = await startTestDashboard({ redisUrl: null });
  const db = {
    url: dashboard.databaseUrl,
    pool: new pg.Pool({ connectionString: dashboard.databaseUrl, max: 4 }),
  };
  try {
    const now = Date.now();
    const days = Array.from({ length: 32 }, (_, i) => new Date(now - (31 - i) * DAY));
    await ensurePartitions(db.pool, days);
    log(`==> COPY ${rowCount.toLocaleString("en")} synthetic egress events over 30 days`);
    const client = await db.pool.connect();
    const copyStarted = performance.now();
    try {
      const columns = `id, "time", node, namespace, sandbox, "sandboxUid", team, method, scheme, host,
        port, path, status, decision, reason, policy, secrets, "bytesSent", "bytesReceived", "durationMs"`;
      let sent = 0;
      const step = Math.max(1, Math.floor(rowCount / 10));
      const source = Readable.from(
        (function* () {
          for (const line of syntheticRows(rowCount, now)) {
            if (++sent % step === 0) {
              inTime("COPY");
              log(`    ${sent.toLocaleString("en")} rows sent`);
            }
            yield line;
          }
        })(),
      );
      await pipeline(source, client.query(copyFrom(`COPY egress_event (${columns}) FROM STDIN`)));
    } finally {
      client.release();
    }
    const copySeconds = (performance.now() - copyStarted) / 1000;
    log(
      `    COPY: ${copySeconds.toFixed(1)} s (${Math.round(rowCount / copySeconds).toLocaleString("en")} rows/s)`,
    );
    log("==> ANALYZE");
    await db.pool.query("ANALYZE egress_event");

    const admin: AuditAccess = { all: true };
    const member: AuditAccess = { all: false, teams: ["team-3", "team-7"] };
    const at = () => new Date();
    const page =
      (input: AuditFilterInput, access: AuditAccess = admin, cursor?: string) =>
      () =>
        listEgress(db.pool, {
          filter: AuditFilter.parse(input),
          access,
          now: at(),
          limit: 50,
          cursor,
        });
    log(`==> audit list query (listEgress, 50 rows a page), ${iterations} iterations each`);
    await measure("first page, no filter (30 d), admin", page({ range: "30d" }));
    await measure("first page, no filter (24 h default), admin", page({}));
    await measure(
      "first page, host=api.github.com (30 d), admin",
      page({ range: "30d", host: "api.github.com" }),
    );
    await measure(
      "first page, host=*.example.org (30 d), admin",
      page({ range: "30d", host: "*.example.org" }),
    );
    await measure("first page, 24 h, decision=denied, admin", page({ decision: "denied" }));
    await measure(
      "first page, 24 h, decision=denied, member of 2 teams",
      page({ decision: "denied" }, member),
    );
    await measure(
      "first page, 30 d, secret=GITHUB_TOKEN, admin",
      page({ range: "30d", secret: "GITHUB_TOKEN" }),
    );
    await measure(
      "first page, no filter (30 d), member of 1 team",
      page({ range: "30d" }, { all: false, teams: ["team-5"] }),
    );
    await measure(
      "first page, no filter (30 d), member of a team without rows",
      page({ range: "30d" }, { all: false, teams: ["team-none"] }),
    );
    // A page deep in the range: the keyset cursor of the 200th page (10,000 rows in).
    let cursor: string | undefined;
    for (let i = 0; i < 200; i++) {
      inTime("walking to a deep page");
      const next = await page({ range: "30d" }, admin, cursor)();
      cursor = next.next ?? undefined;
      if (!cursor) break;
    }
    if (cursor)
      await measure(
        "page 201 (keyset cursor, 10,000 rows in), admin",
        page({ range: "30d" }, admin, cursor),
      );
    const head = await egressHead(db.pool);
    const behind = String(BigInt(head) - 100n);
    await measure("live tail read (100 rows behind the head), admin", () =>
      tailEgress(db.pool, {
        filter: AuditFilter.parse({}),
        access: admin,
        now: at(),
        afterSeq: behind,
        limit: 200,
      }),
    );
    const few = Math.max(3, Math.floor(iterations / 8));
    const summary = (input: AuditFilterInput) => async () => {
      const times: number[] = [];
      for (let i = 0; i < few; i++) {
        inTime("summaries");
        const started = performance.now();
        await summarizeEgress(db.pool, {
          filter: AuditFilter.parse(input),
          access: admin,
          now: at(),
        });
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      log(
        `  summaries ${JSON.stringify(input).padEnd(48)} p50 ${percentile(times, 50).toFixed(1).padStart(7)} ms   (${few} runs)`,
      );
    };
    await summary({})();
    await summary({ range: "7d" })();
    await summary({ range: "30d" })();

    await overHttp(dashboard);

    // Default heap (as the dashboard runs), then a 64 MB heap: an export that
    // held its rows could not finish within it (the output is hundreds of MB).
    for (const [format, flags] of [
      ["csv", []],
      ["ndjson", []],
      ["csv", ["--max-old-space-size=64"]],
    ] as const) {
      inTime("export");
      log(`==> export of every row (30 d) as ${format}, in its own process ${flags.join(" ")}`);
      const result = await exportInChild(db.url, format, [...flags]);
      log(
        `    ${result.rows.toLocaleString("en")} rows, ${(result.bytes / 1e6).toFixed(0)} MB in ${result.seconds.toFixed(1)} s: ${Math.round(result.rows / result.seconds).toLocaleString("en")} rows/s; RSS ${result.baseRssMb.toFixed(0)} MB at start, peak ${result.peakRssMb.toFixed(0)} MB (JS heap used peak ${result.peakHeapMb.toFixed(0)} MB, Buffers peak ${result.peakBuffersMb.toFixed(0)} MB)`,
      );
    }
  } finally {
    await db.pool.end().catch(() => undefined);
    await dashboard.stop().catch(() => undefined);
    await globalTeardown();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof OutOfTime ? error.message : error);
    process.exit(1);
  },
);
