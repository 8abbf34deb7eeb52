/**
 * The audit page through the whole dashboard: the real build on the test
 * platform's PostgreSQL and Redis, rows committed and announced as the
 * audit worker does (audit-support.ts; no VM or worker here).
 *   - access: a member of another team gets none of a team's events
 *     through direct HTTP calls (tRPC list, get, summary, sessions, tail,
 *     and the export route) or the page;
 *   - export: CSV and NDJSON hold exactly the rows the list shows for the
 *     same filter, and each export is recorded;
 *   - live tail off the wire: a reconnect with a Last-Event-ID gets exactly
 *     the rows committed after it;
 *   - Chromium: filters from the URL, a row's details, the live tail
 *     showing a new row within seconds, pause and resume, an export
 *     download, a summary click, the Sessions tab and a sandbox's Egress tab.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { installCrds, kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { type EgressSeed, insertSessions, parseCsv } from "@turgon/web/audit/testing";
import pg from "pg";
import { type AuditSource, committedRows, fetchExport } from "./audit-support.ts";
import { ARTIFACTS_DIR, type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { eventually } from "./cluster.ts";
import { signInInBrowser } from "./policies-support.ts";
import {
  apply,
  createMember,
  must,
  openSse,
  type SseEvent,
  signIn,
  trpcQuery,
} from "./sandboxes-support.ts";

interface Row {
  id: string;
  time: string;
  seq: string;
  host: string;
  team: string | null;
  namespace: string;
  sandbox: string;
  decision: string;
  [key: string]: unknown;
}
interface Page {
  rows: Row[];
  next: string | null;
  head: string | null;
}

const MIN = 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe("the audit page", () => {
  let dashboard: TestDashboard;
  let pool: pg.Pool;
  let source: AuditSource;
  let adminCookie: string;
  let bobCookie: string;
  const teamA = "audit-alpha";
  const teamB = "audit-bravo";
  const nsA = uniqueName("audit-a");
  const nsB = uniqueName("audit-b");
  const alice = {
    email: "alice@example.com",
    password: "alice-password-1234",
    name: "Alice",
    team: teamA,
  };
  const bob = {
    email: "bob@example.com",
    password: "bob-password-12345",
    name: "Bob",
    team: teamB,
  };
  const url = (path: string) => `${dashboard.url}${path}`;

  const seedsA: EgressSeed[] = [
    {
      time: ago(2 * MIN),
      namespace: nsA,
      sandbox: "web",
      team: teamA,
      host: "api.github.com",
      decision: "allowed",
      secrets: ["GITHUB_TOKEN"],
      path: "/repos/x",
    },
    {
      time: ago(3 * MIN),
      namespace: nsA,
      sandbox: "web",
      team: teamA,
      host: "evil.example.com",
      decision: "denied",
      method: "POST",
      path: "/exfil",
    },
    {
      time: ago(4 * MIN),
      namespace: nsA,
      sandbox: "web",
      team: teamA,
      host: "tracker.example.com",
      decision: "would-deny",
      reason: "report mode: host not in allowedHosts",
    },
    {
      time: ago(5 * MIN),
      namespace: nsA,
      sandbox: "worker",
      team: teamA,
      host: "pypi.org",
      decision: "allowed",
      path: '/simple/a,"b"',
    },
    {
      time: ago(90 * MIN),
      namespace: nsA,
      sandbox: "web",
      team: teamA,
      host: "old.example.com",
      decision: "denied",
    },
  ];
  const seedsB: EgressSeed[] = [
    {
      time: ago(2.5 * MIN),
      namespace: nsB,
      sandbox: "api",
      team: teamB,
      host: "bravo-only.example.net",
      decision: "allowed",
    },
    {
      time: ago(6 * MIN),
      namespace: nsB,
      sandbox: "api",
      team: teamB,
      host: "bravo-denied.example.net",
      decision: "denied",
    },
  ];
  const hostsA = new Set(seedsA.map((s) => s.host));

  before(async () => {
    await installCrds();
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    dashboard = await startTestDashboard({ logFile: join(ARTIFACTS_DIR, "audit-dashboard.log") });
    assert.ok(dashboard.redisUrl, "the test platform has a Redis");
    pool = new pg.Pool({ connectionString: dashboard.databaseUrl, max: 3 });
    source = committedRows(dashboard, pool);
    await createMember(dashboard, alice);
    await createMember(dashboard, bob);
    await source.emit([...seedsA, ...seedsB]);
    await insertSessions(pool, [
      {
        user: alice.email,
        namespace: nsA,
        sandbox: "web",
        team: teamA,
        command: ["python", "-m", "pytest"],
        startedAt: ago(10 * MIN),
        exitCode: 1,
      },
      {
        user: alice.email,
        kind: "ssh",
        namespace: nsA,
        sandbox: "web",
        team: teamA,
        startedAt: ago(20 * MIN),
        exitCode: null,
        reason: "client went away",
      },
      {
        user: bob.email,
        namespace: nsB,
        sandbox: "api",
        team: teamB,
        command: ["make", "deploy"],
        startedAt: ago(12 * MIN),
      },
    ]);
    adminCookie = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);
    bobCookie = await signIn(dashboard.url, bob.email, bob.password);
  });
  after(async () => {
    await pool?.end();
    await kubectl(["delete", "namespace", nsA, "--wait=false"]);
    await dashboard?.stop();
  });

  const list = async (cookie: string, filter: Record<string, string>, cursor?: string) => {
    const answer = await trpcQuery(dashboard.url, cookie, "audit.list", {
      filter,
      limit: 2,
      ...(cursor ? { cursor } : {}),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.error));
    return answer.data as Page;
  };
  /** Every page the page would show for a filter (page size 2, so several pages). */
  const listAll = async (cookie: string, filter: Record<string, string>) => {
    const rows: Row[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page = await list(cookie, filter, cursor);
      rows.push(...page.rows);
      if (!page.next) return rows;
      cursor = page.next;
    }
    throw new Error("more than 100 pages");
  };

  it("gives a member of another team none of a team's events through direct calls", async () => {
    assert.equal(
      (await trpcQuery(dashboard.url, undefined, "audit.list", { filter: {} })).status,
      401,
    );
    const bobRows = await listAll(bobCookie, { range: "24h" });
    assert.deepEqual(bobRows.map((r) => r.host).sort(), [
      "bravo-denied.example.net",
      "bravo-only.example.net",
    ]);
    // Naming the other team, its namespace or its host changes nothing.
    assert.deepEqual(await listAll(bobCookie, { team: teamA }), []);
    assert.deepEqual(await listAll(bobCookie, { namespace: nsA }), []);
    assert.deepEqual(await listAll(bobCookie, { host: "api.github.com" }), []);
    const adminRows = await listAll(adminCookie, { range: "24h" });
    const aRow = adminRows.find((r) => r.host === "evil.example.com") as Row;
    const got = await trpcQuery(dashboard.url, bobCookie, "audit.get", {
      time: aRow.time,
      id: aRow.id,
    });
    assert.equal(got.error?.code, "NOT_FOUND");
    const summary = (await trpcQuery(dashboard.url, bobCookie, "audit.summary", { filter: {} }))
      .data as {
      allowedHosts: { host: string }[];
      deniedHosts: { host: string }[];
    };
    for (const { host } of [...summary.allowedHosts, ...summary.deniedHosts])
      assert.ok(!hostsA.has(host), host);
    const sessions = (await trpcQuery(dashboard.url, bobCookie, "audit.sessions", { filter: {} }))
      .data as {
      rows: { user: string }[];
    };
    assert.deepEqual(
      sessions.rows.map((r) => r.user),
      [bob.email],
    );
    const exported = await fetchExport(dashboard, bobCookie, `format=ndjson&team=${teamA}`);
    assert.equal(exported.status, 200);
    assert.equal(exported.body, "");
    assert.equal((await fetchExport(dashboard, undefined, "format=csv")).status, 401);
    const bad = await fetchExport(dashboard, bobCookie, "format=xml&decision=maybe");
    assert.equal(bad.status, 400);
    assert.match(bad.body, /format/);
  });

  it("exports exactly the rows the list shows, as CSV and NDJSON, and records each export", async () => {
    // Another team's member exporting this team's events gets nothing, and that is recorded too.
    assert.equal((await fetchExport(dashboard, bobCookie, `format=ndjson&team=${teamA}`)).body, "");
    const filter = { range: "1h", host: "*.example.com" };
    const listed = await listAll(adminCookie, filter);
    assert.deepEqual(
      listed.map((r) => r.host),
      ["evil.example.com", "tracker.example.com"],
    );
    const query = "range=1h&host=*.example.com";
    const ndjson = await fetchExport(dashboard, adminCookie, `kind=egress&format=ndjson&${query}`);
    assert.equal(ndjson.status, 200);
    assert.match(ndjson.contentType, /application\/x-ndjson/);
    assert.match(ndjson.disposition, /attachment; filename="turgon-egress-.*\.ndjson"/);
    assert.deepEqual(
      ndjson.body
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line)),
      listed,
    );
    const csv = await fetchExport(dashboard, adminCookie, `format=csv&${query}`);
    const [header, ...records] = parseCsv(csv.body);
    assert.ok(header);
    const column = (name: string) => header.indexOf(name);
    assert.deepEqual(
      records.map((r) => r[column("id")]),
      listed.map((r) => r.id),
    );
    assert.deepEqual(
      records.map((r) => r[column("time")]),
      listed.map((r) => r.time),
    );
    assert.match(records[0]?.[column("time")] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // A path with a comma and quotes survives the round trip.
    const all = await fetchExport(dashboard, adminCookie, "format=csv&host=pypi.org");
    assert.equal(parseCsv(all.body)[1]?.[column("path")], '/simple/a,"b"');
    const { rows } = await pool.query<{
      userEmail: string;
      kind: string;
      format: string;
      rows: string;
      filter: Record<string, string>;
    }>(
      `SELECT "userEmail", kind, format, rows::text, filter FROM audit_export ORDER BY "createdAt"`,
    );
    const mine = rows.filter((r) => r.userEmail === dashboard.admin.email);
    assert.deepEqual(
      mine.map((r) => [r.kind, r.format, r.rows, r.filter.host]),
      [
        ["egress", "ndjson", "2", "*.example.com"],
        ["egress", "csv", "2", "*.example.com"],
        ["egress", "csv", "1", "pypi.org"],
      ],
    );
    assert.ok(
      rows.some((r) => r.userEmail === bob.email && r.filter.team === teamA && r.rows === "0"),
    );
  });

  it("resumes the live tail after a reconnect with exactly the later rows", async () => {
    const first = await list(adminCookie, { range: "1h" });
    assert.ok(first.head);
    const events =
      (stream: { next(ms?: number): Promise<SseEvent> }, waitMs = 15_000) =>
      async (count: number) => {
        const rows: { id: string; row: Row }[] = [];
        for (let i = 0; rows.length < count && i < 50; i++) {
          const event = await stream.next(waitMs);
          if (event.event !== undefined && event.event !== "message") continue;
          rows.push({
            id: event.id as string,
            row: (JSON.parse(event.data) as { json: Row }).json,
          });
        }
        return rows;
      };
    const input = { filter: { range: "1h" }, lastEventId: first.head };
    const stream = await openSse(dashboard.url, adminCookie, "audit.tail", input);
    const batch1 = ["tail-1", "tail-2", "tail-3"].map(
      (h): EgressSeed => ({
        time: new Date(),
        namespace: nsA,
        sandbox: "web",
        team: teamA,
        host: `${h}.example.com`,
        decision: "allowed",
      }),
    );
    const started = Date.now();
    await source.emit(batch1);
    const got = await events(stream)(3);
    const latency = Date.now() - started;
    stream.close();
    assert.deepEqual(
      got.map((e) => e.row.host),
      ["tail-1.example.com", "tail-2.example.com", "tail-3.example.com"],
    );
    assert.deepEqual(
      got.map((e) => e.id),
      got.map((e) => e.row.seq),
    );
    console.log(`# live tail: 3 rows committed and announced → received over SSE in ${latency} ms`);
    assert.ok(latency < 10_000, `${latency} ms`);
    // While disconnected, two more commit; one of them is another team's, which Bob's tail gets alone.
    await source.emit([
      {
        time: new Date(),
        namespace: nsA,
        sandbox: "web",
        team: teamA,
        host: "tail-4.example.com",
        decision: "denied",
      },
      {
        time: new Date(),
        namespace: nsB,
        sandbox: "api",
        team: teamB,
        host: "tail-5.example.net",
        decision: "allowed",
      },
    ]);
    const resumed = await openSse(dashboard.url, adminCookie, "audit.tail", input, {
      lastEventId: got[1]?.id as string,
    });
    const after2 = await events(resumed)(3);
    assert.deepEqual(
      after2.map((e) => e.row.host),
      ["tail-3.example.com", "tail-4.example.com", "tail-5.example.net"],
    );
    // And nothing more: no duplicates follow.
    await assert.rejects(events(resumed, 3_000)(1), /no SSE event in time/);
    resumed.close();
    // Bob's tail, resumed from the same point, gets only his team's row.
    const bobs = await openSse(dashboard.url, bobCookie, "audit.tail", input, {
      lastEventId: got[1]?.id as string,
    });
    const bobRows = await events(bobs)(1);
    bobs.close();
    assert.deepEqual(
      bobRows.map((e) => e.row.host),
      ["tail-5.example.net"],
    );
  });

  describe("in Chromium", () => {
    let admin: BrowserSession;
    let member: BrowserSession;

    before(async () => {
      admin = await openBrowser("audit");
      await signInInBrowser(admin, dashboard.url, dashboard.admin.email, dashboard.admin.password);
    });
    after(async () => {
      await admin?.close();
      await member?.close();
    });

    const hostsShown = async (browser: BrowserSession) =>
      (await browser.page.getByTestId("egress-row").getByTestId("host").allTextContents()).sort();

    it("shows the filtered list from the URL and a row's details", async () => {
      const { page } = admin;
      await admin.visit(url("/audit?range=1h&decision=denied"), "audit-denied-from-url");
      await page.getByTestId("egress-table").waitFor();
      // Of the seeded rows, exactly the denied ones of the last hour (old.example.com is 90 min
      // old); rows the live-tail tests add are denied too when listed, whatever ran before.
      const seeded = new Set([...seedsA, ...seedsB].map((s) => s.host));
      const shown = await hostsShown(admin);
      assert.deepEqual(
        shown.filter((host) => seeded.has(host)),
        ["bravo-denied.example.net", "evil.example.com"],
      );
      assert.deepEqual(
        [
          ...new Set(
            await page
              .getByTestId("egress-row")
              .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-decision"))),
          ),
        ],
        ["denied"],
      );
      assert.equal(await page.getByLabel("Decision").inputValue(), "denied");
      await admin.visit(url("/audit?range=1h&host=nope%20bad"), "audit-bad-filter");
      assert.match((await page.getByTestId("filter-errors").textContent()) ?? "", /host/);

      await admin.visit(url("/audit?range=1h"), "audit");
      await page.getByTestId("summaries").getByText("evil.example.com").waitFor();
      await admin.snap("audit-with-summaries");
      await page.getByTestId("egress-row").filter({ hasText: "evil.example.com" }).click();
      const details = page.getByTestId("event-details");
      await details.getByText("POST https://evil.example.com/exfil").waitFor();
      assert.match((await details.textContent()) ?? "", /host not in allowedHosts/);
      await admin.snap("audit-row-details");
      await details.getByRole("button", { name: "Allow this host…" }).click();
      await details.getByRole("form", { name: "Allow this host" }).waitFor();
      await admin.snap("audit-allow-host-form");
      await page.keyboard.press("Escape");
      // A summary click filters the list, and the URL says so.
      await page.getByTestId("top-denied").getByText("evil.example.com").click();
      await page.waitForURL(/host=evil\.example\.com/);
      assert.match(page.url(), /decision=denied/);
      await eventually(
        "the list filtered to the clicked host",
        () => hostsShown(admin),
        (hosts) => hosts.length === 1 && hosts[0] === "evil.example.com",
        10_000,
      );
      await admin.snap("audit-after-summary-click");
    });

    it("tails new rows live within seconds; pause holds them back until resume", async () => {
      const { page } = admin;
      await admin.visit(url("/audit?range=1h"), "audit-live");
      await page
        .locator('[data-testid="live-status"][data-status="pending"]')
        .waitFor({ timeout: 15_000 });
      const liveHost = `live-${randomUUID().slice(0, 8)}.example.com`;
      const started = Date.now();
      await source.emit([
        {
          time: new Date(),
          namespace: nsA,
          sandbox: "web",
          team: teamA,
          host: liveHost,
          decision: "denied",
        },
      ]);
      const liveRow = page
        .locator('[data-testid="egress-row"][data-live="true"]')
        .filter({ hasText: liveHost });
      await liveRow.waitFor({ timeout: 10_000 });
      console.log(`# live tail in Chromium: committed → row shown in ${Date.now() - started} ms`);
      await admin.snap("audit-live-row");

      await page.getByRole("button", { name: "Pause" }).click();
      await page.locator('[data-testid="tail-state"][data-paused="true"]').waitFor();
      const pausedHost = `paused-${randomUUID().slice(0, 8)}.example.com`;
      await source.emit([
        {
          time: new Date(),
          namespace: nsA,
          sandbox: "web",
          team: teamA,
          host: pausedHost,
          decision: "allowed",
        },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.equal(await page.getByText(pausedHost).count(), 0, "a paused tail shows nothing new");
      await admin.snap("audit-paused");
      await page.getByRole("button", { name: "Resume" }).click();
      await page
        .getByTestId("egress-row")
        .filter({ hasText: pausedHost })
        .waitFor({ timeout: 10_000 });
      await admin.snap("audit-resumed");

      const download = page.waitForEvent("download");
      await page.getByTestId("export-csv").click();
      const file = await (await download).path();
      const [header, ...records] = parseCsv(await readFile(file, "utf8"));
      const hostColumn = header?.indexOf("host") ?? -1;
      const exportedHosts = records.map((r) => r[hostColumn]);
      assert.ok(exportedHosts.includes(liveHost) && exportedHosts.includes(pausedHost));
      assert.equal(records.length, (await listAll(adminCookie, { range: "1h" })).length);
    });

    it("lists exec and SSH sessions, and a sandbox's own egress on its page", async () => {
      const { page } = admin;
      await admin.visit(url("/audit?tab=sessions"), "audit-sessions");
      const table = page.getByTestId("sessions-table");
      await table.waitFor();
      assert.equal(await page.getByTestId("session-row").count(), 3);
      assert.match((await table.textContent()) ?? "", /python -m pytest/);
      assert.match((await table.textContent()) ?? "", /interactive shell/);

      await must(["create", "namespace", nsA]);
      await apply({
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name: "web", namespace: nsA },
        spec: { image: "debian-python:latest" },
      });
      await admin.visit(url(`/sandboxes/${nsA}/web?tab=egress`), "sandbox-egress-tab");
      await page.getByTestId("egress-table").waitFor();
      const shown = await hostsShown(admin);
      assert.ok(shown.length > 0);
      assert.ok(shown.includes("api.github.com") && !shown.includes("pypi.org"), shown.join(","));
      assert.ok(!shown.some((h) => h.includes("bravo")));
      await page.getByRole("tab", { name: "Sessions" }).click();
      await page.getByTestId("sessions-table").waitFor();
      assert.equal(await page.getByTestId("session-row").count(), 2);
      await admin.snap("sandbox-sessions-tab");
    });

    it("shows a member of another team none of the team's events", async () => {
      member = await openBrowser("audit-member");
      const { page } = member;
      await member.visit(url("/signin?return=%2Faudit%3Frange%3D24h"), "member-signin");
      await page.getByLabel("Email address").fill(bob.email);
      await page.getByLabel("Password").fill(bob.password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(/\/audit/);
      await page.getByTestId("egress-table").waitFor();
      await member.settle();
      await member.snap("member-audit");
      const shown = await hostsShown(member);
      assert.ok(shown.length >= 2);
      assert.ok(
        shown.every((h) => h.endsWith(".example.net")),
        shown.join(","),
      );
      assert.equal(await page.getByText("evil.example.com").count(), 0);
      await member.visit(url(`/audit?team=${teamA}`), "member-other-team-filter");
      await page.getByText("No egress events").waitFor();
    });
  });
});
