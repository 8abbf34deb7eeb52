/**
 * Dashboard benchmark (issue: dashboard). With 1,000 Sandboxes in the API
 * server (status written directly, as if an operator had placed them; no
 * VMs, no operator), prints:
 *   1. server response p50/p90 of the tRPC list call and of the
 *      /sandboxes page's HTML, signed in as the admin (who sees all);
 *   2. time from navigation until the table is interactive (hydrated) in
 *      Chromium, p50/p90;
 *   3. a live update: a status change written to the API server until the
 *      row's phase cell changes in the open page, p50/p90.
 * Everything runs on a throw-away platform (real kube-apiserver and etcd,
 * PostgreSQL) on loopback with the real dashboard build; every loop is
 * bounded in count, and the whole run in time.
 *
 * Usage: node web/bench/sandboxes.ts [--sandboxes 1000] [--requests 30]
 *   [--loads 10] [--changes 20] [--max-seconds 900] [--screenshots DIR]
 *   (`npm run bench:web`)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { installCrds, kubectl, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { globalSetup, globalTeardown } from "@turgon/dev/testing/platform";
import { type Browser, chromium } from "playwright-core";

const { values } = parseArgs({
  options: {
    sandboxes: { type: "string", default: "1000" },
    requests: { type: "string", default: "30" },
    loads: { type: "string", default: "10" },
    changes: { type: "string", default: "20" },
    "max-seconds": { type: "string", default: "900" },
    /** A directory to save screenshots of the table in. */
    screenshots: { type: "string" },
  },
});
const count = Number(values.sandboxes);
const requests = Number(values.requests);
const loads = Number(values.loads);
const changes = Number(values.changes);
const deadline = Date.now() + Number(values["max-seconds"]) * 1000;

const SANDBOXES = { group: "turgon.dev", version: "v1alpha1", plural: "sandboxes" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const CHROMIUM = process.env.TURGON_CHROMIUM ?? "/usr/bin/chromium";

class OutOfTime extends Error {}
function inTime(what: string): void {
  if (Date.now() > deadline) throw new OutOfTime(`out of time (--max-seconds) during ${what}`);
}

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

interface Row {
  measure: string;
  samples: number[];
  note: string;
}
const results: Row[] = [];
function record(measure: string, samples: number[], note = ""): void {
  results.push({ measure, samples: [...samples].sort((a, b) => a - b), note });
}

function printTable(): void {
  const ms = (v: number) => (Number.isNaN(v) ? "—" : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
  const header = ["measure", "n", "p50", "p90", "max", "notes"];
  const lines = results.map((r) => [
    r.measure,
    String(r.samples.length),
    ms(percentile(r.samples, 50)),
    ms(percentile(r.samples, 90)),
    ms(r.samples.at(-1) ?? Number.NaN),
    r.note,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)));
  console.log(`\nweb dashboard with ${count} Sandboxes (admin: sees every one)\n`);
  console.log(format(header).join("  "));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const line of lines) console.log(format(line).join("  "));
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
      }
    }),
  );
}

async function signIn(url: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 200)
    throw new Error(`sign-in: ${response.status} ${await response.text()}`);
  return response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

/** Sequential GETs: latencies of 200 answers (ms) and the body size. */
async function timeGets(url: string, cookie: string, n: number, what: string) {
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n + 3; i++) {
    inTime(what);
    const t0 = performance.now();
    const response = await fetch(url, { headers: { cookie } });
    const body = await response.arrayBuffer();
    const elapsed = performance.now() - t0;
    if (response.status !== 200) throw new Error(`${what}: ${response.status}`);
    bytes = body.byteLength;
    if (i >= 3) samples.push(elapsed); // the first few warm the server's code paths
  }
  return { samples, bytes };
}

const kB = (bytes: number) => `${(bytes / 1024).toFixed(0)} kB`;

function status(i: number, phase: string) {
  const now = new Date().toISOString();
  const ready = phase === "Running";
  return {
    phase,
    nodeName: `bench-node-${i % 4}`,
    observedGeneration: 1,
    startedAt: now,
    ingress: {
      url: `http://sbx-${String(i).padStart(4, "0")}--bench.localhost:18080/`,
      access: "private",
    },
    conditions: [
      {
        type: "Ready",
        status: ready ? "True" : "False",
        reason: ready ? "Serving" : phase,
        message: ready ? "serving 1 route(s)" : `the sandbox is ${phase}`,
        lastTransitionTime: now,
        observedGeneration: 1,
      },
    ],
  };
}

await globalSetup();
const scratch = await mkdtemp(join(tmpdir(), "turgon-bench-web-"));
let dashboard: TestDashboard | undefined;
let browser: Browser | undefined;
const namespace = uniqueName("bench");
try {
  await installCrds();
  const api = testKubeConfig().makeApiClient(CustomObjectsApi);
  const created = await kubectl(["create", "namespace", namespace]);
  if (created.exitCode !== 0) throw new Error(created.tail);
  dashboard = await startTestDashboard({ logFile: join(scratch, "dashboard.log") });
  const cookie = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);

  const names = Array.from({ length: count }, (_, i) => `sbx-${String(i).padStart(4, "0")}`);
  const t0 = performance.now();
  await pool(names, 16, async (name) => {
    inTime("creating sandboxes");
    const i = Number(name.slice(4));
    await api.createNamespacedCustomObject({
      ...SANDBOXES,
      namespace,
      body: {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name, labels: { "turgon.dev/bench": "web" } },
        spec: {
          image: "debian-python:latest",
          ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
        },
      },
    });
    await api.patchNamespacedCustomObjectStatus(
      {
        ...SANDBOXES,
        namespace,
        name,
        body: { status: status(i, i % 10 === 0 ? "Starting" : "Running") },
      },
      mergePatch,
    );
  });
  console.log(
    `created ${count} Sandboxes with status in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // The list is the dashboard's informer cache: wait until it holds every one.
  const listUrl = `${dashboard.url}/api/trpc/sandboxes.list`;
  for (;;) {
    inTime("waiting for the dashboard's cache");
    const response = await fetch(
      `${listUrl}?input=${encodeURIComponent(JSON.stringify({ json: { namespace } }))}`,
      { headers: { cookie } },
    );
    const body = (await response.json()) as { result?: { data: { json: { rows: unknown[] } } } };
    if ((body.result?.data.json.rows.length ?? 0) >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  // 1. Server response times.
  const list = await timeGets(listUrl, cookie, requests, "the tRPC list call");
  record("tRPC sandboxes.list (HTTP, all rows)", list.samples, kB(list.bytes));
  const html = await timeGets(`${dashboard.url}/sandboxes`, cookie, requests, "the page HTML");
  record("/sandboxes page HTML (server render)", html.samples, kB(html.bytes));

  // 2. Time until the table is interactive in Chromium.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies(
    cookie.split("; ").map((pair) => {
      const at = pair.indexOf("=");
      return { name: pair.slice(0, at), value: pair.slice(at + 1), url: dashboard?.url as string };
    }),
  );
  const page = await context.newPage();
  const interactive = page.locator('[data-testid="sandboxes"][data-interactive="true"]');
  const tti: number[] = [];
  for (let i = 0; i < loads + 1; i++) {
    inTime("loading the page in Chromium");
    const start = Date.now();
    await page.goto(`${dashboard.url}/sandboxes`, { waitUntil: "commit" });
    await interactive.waitFor({ timeout: 60_000 });
    if (i > 0) tti.push(Date.now() - start); // the first load fills the browser's cache
  }
  const rows = await page.locator('[data-testid="sandbox-row"]').count();
  const total = await page.getByTestId("sandbox-count").textContent();
  if (rows !== Math.min(count, 100) || !total?.startsWith(`${count} `))
    throw new Error(`the table draws ${rows} rows and says "${total}"`);
  // Interactive means it reacts: a search (over every row, not just this page) narrows it at once.
  await page.getByLabel("Search by name").fill(`sbx-${String(count - 3).padStart(4, "0")}`);
  await page
    .getByTestId("sandbox-count")
    .getByText(new RegExp(`^1 of ${count} `))
    .waitFor();
  const narrowed = await page.locator('[data-testid="sandbox-row"]').count();
  if (narrowed !== 1) throw new Error(`search left ${narrowed} rows`);
  record(
    "table interactive in Chromium (navigation → hydrated)",
    tti,
    `${count} rows live, ${rows} drawn`,
  );

  // 3. Status change in the API server → the row's phase cell in the browser.
  await page.goto(`${dashboard.url}/sandboxes`, { waitUntil: "commit" });
  await interactive.waitFor();
  await page.locator('[data-testid="live-status"][data-status="pending"]').waitFor();
  const latencies: number[] = [];
  for (let i = 0; i < changes; i++) {
    inTime("live updates");
    // Rows on the first page (sorted by name), which the table draws.
    const index = (i * 37 + 3) % Math.min(count, 100);
    const target = names[index] as string;
    const phase = i % 2 === 0 ? "Failed" : "Suspended";
    // Resolves in the page (its clock) when the row's phase cell shows the new phase.
    const seen = page.evaluate(
      ({ key, phase }) =>
        new Promise<number>((resolve) => {
          // DOM types are not in the repository's Node tsconfig: only what is used, typed here.
          type Node = { getAttribute(name: string): string | null };
          const dom = globalThis as unknown as {
            document: { querySelector(selector: string): Node | null; body: unknown };
            MutationObserver: new (
              callback: () => void,
            ) => { observe(target: unknown, options: object): void; disconnect(): void };
          };
          const check = () => {
            const cell = dom.document.querySelector(`tr[data-key="${key}"] [data-testid="phase"]`);
            if (cell?.getAttribute("data-phase") !== phase) return false;
            resolve(performance.timeOrigin + performance.now());
            return true;
          };
          if (check()) return;
          const observer = new dom.MutationObserver(() => {
            if (check()) observer.disconnect();
          });
          observer.observe(dom.document.body, { subtree: true, childList: true, attributes: true });
        }),
      { key: `${namespace}/${target}`, phase },
    );
    const start = Date.now();
    await api.patchNamespacedCustomObjectStatus(
      { ...SANDBOXES, namespace, name: target, body: { status: status(index, phase) } },
      mergePatch,
    );
    const at = await Promise.race([
      seen,
      new Promise<number>((_, reject) =>
        setTimeout(() => reject(new Error(`${target} did not turn ${phase} in 30 s`)), 30_000),
      ),
    ]);
    latencies.push(at - start);
  }
  record("status change → row updated in Chromium", latencies, "SSE, one row each");
  if (values.screenshots) {
    await page.screenshot({
      path: join(values.screenshots, "bench-sandboxes.png"),
      fullPage: true,
    });
    await page.goto(`${dashboard.url}/sandboxes?phase=Starting&page=2`, { waitUntil: "commit" });
    await interactive.waitFor();
    await page.screenshot({ path: join(values.screenshots, "bench-filtered.png"), fullPage: true });
  }
  printTable();
  await rm(scratch, { recursive: true, force: true });
} catch (error) {
  if (results.length) printTable();
  console.error(`the dashboard's log is kept in ${scratch}`);
  throw error;
} finally {
  await browser?.close();
  await dashboard?.stop();
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  await globalTeardown();
}
