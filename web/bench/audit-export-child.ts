/**
 * One export of every egress row (30 d, as an admin), run by
 * audit-query.ts in a process of its own so its peak RSS is the export's:
 * the same exportRows the export route streams, written to a sink that
 * only counts bytes. Prints one JSON line: rows, bytes, seconds, RSS.
 *
 * Usage: node web/bench/audit-export-child.ts <database-url> <csv|ndjson>
 */
import pg from "pg";
import { AuditFilter, type ExportFormat } from "../src/lib/audit.ts";
import { exportRows } from "../src/server/audit/export.ts";

const [databaseUrl, format] = process.argv.slice(2);
if (!databaseUrl || (format !== "csv" && format !== "ndjson")) {
  console.error("usage: audit-export-child.ts <database-url> <csv|ndjson>");
  process.exit(2);
}
const mb = (bytes: number) => bytes / 1024 / 1024;
const baseRss = process.memoryUsage.rss();
let peakRss = baseRss;
// The JS heap and Buffers too: RSS also counts memory freed but not yet returned to the OS.
let peakHeap = 0;
let peakBuffers = 0;
const sample = () => {
  const usage = process.memoryUsage();
  peakRss = Math.max(peakRss, usage.rss);
  peakHeap = Math.max(peakHeap, usage.heapUsed);
  peakBuffers = Math.max(peakBuffers, usage.arrayBuffers);
};
const sampler = setInterval(sample, 20);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
let rows = 0;
let bytes = 0;
const started = performance.now();
for await (const chunk of exportRows(
  pool,
  { kind: "egress", filter: AuditFilter.parse({ range: "30d" }) },
  {
    access: { all: true },
    now: new Date(),
    format: format as ExportFormat,
    onRows: (total) => {
      rows = total;
    },
  },
)) {
  bytes += Buffer.byteLength(chunk);
  sample();
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
await pool.end();
console.log(
  JSON.stringify({
    rows,
    bytes,
    seconds,
    peakRssMb: mb(peakRss),
    baseRssMb: mb(baseRss),
    peakHeapMb: mb(peakHeap),
    peakBuffersMb: mb(peakBuffers),
  }),
);
