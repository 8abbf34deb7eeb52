/**
 * The audit queries against the test platform's PostgreSQL (a migrated
 * scratch database; rows inserted as the worker commits them): access by
 * team, every filter, keyset paging across ties and pages, the live tail's
 * head and `seq > cursor`, summaries and sessions.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AuditFilter,
  type AuditFilterInput,
  type EgressRow,
  SessionFilter,
} from "../../lib/audit.ts";
import {
  type AuditAccess,
  egressConditions,
  getEgress,
  listEgress,
  listSessions,
  summarizeEgress,
  tailEgress,
} from "./query.ts";
import {
  createAuditDatabase,
  type EgressSeed,
  insertEgressEvents,
  insertSessions,
  type ScratchAuditDatabase,
} from "./testing.ts";

const ADMIN: AuditAccess = { all: true };
const TEAM_A: AuditAccess = { all: false, teams: ["team-a"] };
const TEAM_B: AuditAccess = { all: false, teams: ["team-b"] };
const NOBODY: AuditAccess = { all: false, teams: [] };

const now = new Date();
const ago = (ms: number) => new Date(now.getTime() - ms);
const MIN = 60_000;
const HOUR = 60 * MIN;

const filter = (input: AuditFilterInput = {}) => AuditFilter.parse(input);

/** Every page of a list, following `next`; bounded. */
async function allPages(
  db: ScratchAuditDatabase,
  access: AuditAccess,
  input: AuditFilterInput,
  limit: number,
): Promise<EgressRow[]> {
  const rows: EgressRow[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await listEgress(db.pool, {
      filter: filter(input),
      access,
      now,
      limit,
      cursor,
    });
    rows.push(...page.rows);
    if (!page.next) return rows;
    cursor = page.next;
  }
  throw new Error("more than 1000 pages");
}

describe("audit queries on PostgreSQL", () => {
  let db: ScratchAuditDatabase;
  const tie = ago(30 * MIN);
  const seeds: EgressSeed[] = [
    {
      time: ago(1 * MIN),
      namespace: "ns-a",
      sandbox: "web",
      team: "team-a",
      host: "api.github.com",
      decision: "allowed",
      secrets: ["GITHUB_TOKEN"],
    },
    {
      time: ago(2 * MIN),
      namespace: "ns-a",
      sandbox: "web",
      team: "team-a",
      host: "evil.example.com",
      decision: "denied",
      method: "POST",
    },
    {
      time: ago(3 * MIN),
      namespace: "ns-a",
      sandbox: "worker",
      team: "team-a",
      host: "raw.github.com",
      decision: "would-deny",
      status: 502,
    },
    {
      time: ago(4 * MIN),
      namespace: "ns-b",
      sandbox: "web",
      team: "team-b",
      host: "api.github.com",
      decision: "allowed",
    },
    {
      time: ago(5 * MIN),
      namespace: "ns-b",
      sandbox: "web",
      team: "team-b",
      host: "a_b.example.com",
      decision: "denied",
      status: null,
    },
    {
      time: ago(6 * MIN),
      namespace: "ns-b",
      sandbox: "web",
      team: "team-b",
      host: "axb.example.com",
      decision: "denied",
    },
    {
      time: ago(7 * MIN),
      namespace: "orphan",
      sandbox: "old",
      team: null,
      host: "pypi.org",
      decision: "allowed",
    },
    {
      time: ago(2 * HOUR),
      namespace: "ns-a",
      sandbox: "web",
      team: "team-a",
      host: "github.com",
      decision: "allowed",
      status: 301,
    },
    {
      time: ago(3 * 86_400_000),
      namespace: "ns-a",
      sandbox: "web",
      team: "team-a",
      host: "github.com",
      decision: "denied",
    },
    // Five rows at one instant: only seq orders them.
    ...Array.from(
      { length: 5 },
      (_, i): EgressSeed => ({
        time: tie,
        namespace: "ns-a",
        sandbox: "web",
        team: "team-a",
        host: `tie-${i}.example.com`,
        decision: "allowed",
      }),
    ),
  ];

  before(async () => {
    db = await createAuditDatabase();
    await insertEgressEvents(db.pool, seeds);
    await insertSessions(db.pool, [
      {
        user: "ana@example.com",
        namespace: "ns-a",
        sandbox: "web",
        team: "team-a",
        command: ["ls", "-l"],
        startedAt: ago(10 * MIN),
      },
      {
        user: "ana@example.com",
        kind: "ssh",
        namespace: "ns-a",
        sandbox: "web",
        team: "team-a",
        startedAt: ago(20 * MIN),
        exitCode: null,
        reason: "client gone",
      },
      {
        user: "bo@example.com",
        namespace: "ns-b",
        sandbox: "web",
        team: "team-b",
        command: ["make"],
        startedAt: ago(15 * MIN),
        exitCode: 2,
      },
      ...Array.from({ length: 7 }, (_, i) => ({
        user: "ci@example.com",
        namespace: "ns-a",
        sandbox: "worker",
        team: "team-a",
        command: ["true"],
        startedAt: ago(40 * MIN), // one instant: the id breaks ties
        endedAt: ago(40 * MIN - i * 1000),
      })),
    ]);
  });
  after(async () => {
    await db?.drop();
  });

  it("shows admins every row and members only their teams' rows (none without a team)", async () => {
    const all = await allPages(db, ADMIN, { range: "7d" }, 50);
    assert.equal(all.length, seeds.length);
    const a = await allPages(db, TEAM_A, { range: "7d" }, 50);
    assert.ok(a.length > 0);
    assert.ok(a.every((row) => row.team === "team-a"));
    assert.equal(a.length, seeds.filter((s) => s.team === "team-a").length);
    const b = await allPages(db, TEAM_B, { range: "7d" }, 50);
    assert.deepEqual(new Set(b.map((r) => r.team)), new Set(["team-b"]));
    assert.deepEqual(await allPages(db, NOBODY, { range: "7d" }, 50), []);
    // A team filter naming another team does not widen access.
    assert.deepEqual(await allPages(db, TEAM_A, { range: "7d", team: "team-b" }, 50), []);
    // Nor does a direct lookup by key.
    const bRow = b[0] as EgressRow;
    assert.equal(
      await getEgress(db.pool, TEAM_A, { time: new Date(bRow.time), id: bRow.id }),
      null,
    );
    assert.deepEqual(
      await getEgress(db.pool, TEAM_B, { time: new Date(bRow.time), id: bRow.id }),
      bRow,
    );
  });

  it("filters by time range, host (exact and wildcard), method, decision, status class and secret", async () => {
    const hosts = async (input: AuditFilterInput) =>
      (await allPages(db, ADMIN, input, 50)).map((row) => row.host).sort();
    assert.equal((await hosts({ range: "1h" })).length, 12);
    // The window includes its start: the row exactly 5 minutes old is in.
    assert.equal((await hosts({ range: "5m" })).length, 5);
    assert.equal((await hosts({ range: "24h" })).length, 13);
    assert.deepEqual(
      await hosts({
        range: "custom",
        from: ago(5.5 * MIN).toISOString(),
        to: ago(3.5 * MIN).toISOString(),
      }),
      ["a_b.example.com", "api.github.com"],
    );
    assert.deepEqual(await hosts({ host: "api.github.com" }), ["api.github.com", "api.github.com"]);
    assert.deepEqual(await hosts({ host: "API.GitHub.com" }), ["api.github.com", "api.github.com"]);
    assert.deepEqual(await hosts({ host: "*.github.com" }), [
      "api.github.com",
      "api.github.com",
      "raw.github.com",
    ]);
    assert.deepEqual(await hosts({ range: "7d", host: "github.*" }), ["github.com", "github.com"]);
    // `_` and `%` are literal characters in a host filter, not LIKE wildcards.
    assert.deepEqual(await hosts({ host: "a_b.*" }), ["a_b.example.com"]);
    assert.deepEqual(await hosts({ method: "post" }), ["evil.example.com"]);
    assert.deepEqual(await hosts({ decision: "would-deny" }), ["raw.github.com"]);
    assert.deepEqual(await hosts({ decision: "denied" }), [
      "a_b.example.com",
      "axb.example.com",
      "evil.example.com",
    ]);
    assert.deepEqual(await hosts({ status: "5xx" }), ["raw.github.com"]);
    assert.deepEqual(await hosts({ status: "none" }), ["a_b.example.com"]);
    assert.deepEqual(await hosts({ range: "24h", status: "3xx" }), ["github.com"]);
    assert.deepEqual(await hosts({ secret: "GITHUB_TOKEN" }), ["api.github.com"]);
    assert.deepEqual(await hosts({ namespace: "ns-a", sandbox: "worker" }), ["raw.github.com"]);
  });

  it("puts no filter value into the SQL text: values are bind parameters", () => {
    // As if validation were bypassed: the builder alone must keep values out of the text.
    const hostile = { ...filter({ namespace: "a" }), host: "*.x'--", secret: "S;DROP" };
    const where = egressConditions(hostile, TEAM_A, now);
    const sql = where.where();
    for (const value of ["x'--", "S;DROP", "team-a"]) assert.ok(!sql.includes(value), sql);
    assert.ok(where.values.includes("S;DROP"));
  });

  it("pages with a keyset on (time desc, seq desc): no row lost or repeated, ties by seq", async () => {
    const whole = (
      await listEgress(db.pool, { filter: filter({ range: "7d" }), access: ADMIN, now, limit: 200 })
    ).rows;
    for (const limit of [1, 2, 3, 4, 7]) {
      const paged = await allPages(db, ADMIN, { range: "7d" }, limit);
      assert.deepEqual(
        paged.map((r) => r.id),
        whole.map((r) => r.id),
        `page size ${limit}`,
      );
    }
    for (let i = 1; i < whole.length; i++) {
      const [prev, next] = [whole[i - 1] as EgressRow, whole[i] as EgressRow];
      assert.ok(
        Date.parse(prev.time) > Date.parse(next.time) ||
          (prev.time === next.time && BigInt(prev.seq) > BigInt(next.seq)),
      );
    }
    const ties = whole.filter((row) => row.time === tie.toISOString());
    assert.deepEqual(
      ties.map((row) => row.host),
      [4, 3, 2, 1, 0].map((i) => `tie-${i}.example.com`),
    );
    const plan = await db.pool.query<{ "QUERY PLAN": string }>(
      `EXPLAIN SELECT * FROM egress_event WHERE ("time", seq) < (now(), 5) ORDER BY "time" DESC, seq DESC LIMIT 10`,
    );
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    assert.doesNotMatch(text, /OFFSET/i);
  });

  it("reads the first page with the head seq of the same snapshot; the tail returns exactly what follows", async () => {
    const first = await listEgress(db.pool, { filter: filter(), access: TEAM_A, now, limit: 3 });
    assert.ok(first.head);
    const head = first.head as string;
    const later: EgressSeed[] = [
      {
        time: new Date(),
        namespace: "ns-a",
        sandbox: "web",
        team: "team-a",
        host: "new-1.example.com",
        decision: "allowed",
      },
      {
        time: new Date(),
        namespace: "ns-b",
        sandbox: "web",
        team: "team-b",
        host: "new-2.example.com",
        decision: "denied",
      },
      // Committed late with an older time (an agent's spool catching up).
      {
        time: ago(3 * HOUR),
        namespace: "ns-a",
        sandbox: "web",
        team: "team-a",
        host: "new-3.example.com",
        decision: "denied",
      },
    ];
    const last = await insertEgressEvents(db.pool, later);
    const tailNow = new Date();
    const tailA = await tailEgress(db.pool, {
      filter: filter(),
      access: TEAM_A,
      now: tailNow,
      afterSeq: head,
      limit: 100,
    });
    assert.deepEqual(
      tailA.map((r) => r.host),
      ["new-1.example.com", "new-3.example.com"],
    );
    const tailAdmin = await tailEgress(db.pool, {
      filter: filter({ decision: "denied" }),
      access: ADMIN,
      now: tailNow,
      afterSeq: head,
      limit: 100,
    });
    assert.deepEqual(
      tailAdmin.map((r) => r.host),
      ["new-2.example.com", "new-3.example.com"],
    );
    // Resuming from the middle gives only what came after it.
    const resumed = await tailEgress(db.pool, {
      filter: filter(),
      access: ADMIN,
      now: tailNow,
      afterSeq: (tailAdmin[0] as EgressRow).seq,
      limit: 100,
    });
    assert.deepEqual(
      resumed.map((r) => r.host),
      ["new-3.example.com"],
    );
    assert.deepEqual(
      await tailEgress(db.pool, {
        filter: filter(),
        access: ADMIN,
        now: tailNow,
        afterSeq: last,
        limit: 100,
      }),
      [],
    );
  });

  it("summarizes top allowed and denied hosts and denied requests over time", async () => {
    // A closed window, so rows the tail test adds later do not count.
    const lastHour = {
      range: "custom",
      from: ago(HOUR).toISOString(),
      to: now.toISOString(),
    } as const;
    const summary = await summarizeEgress(db.pool, {
      filter: filter(lastHour),
      access: ADMIN,
      now,
    });
    assert.deepEqual(summary.allowedHosts[0], { host: "api.github.com", count: 2 });
    assert.deepEqual(summary.deniedHosts.map((h) => h.host).sort(), [
      "a_b.example.com",
      "axb.example.com",
      "evil.example.com",
    ]);
    const { bucketMs, buckets } = summary.deniedOverTime;
    assert.equal(bucketMs, 60_000);
    assert.ok(buckets.length >= 60 && buckets.length <= 61, String(buckets.length));
    assert.equal(
      buckets.reduce((sum, b) => sum + b.count, 0),
      3,
    );
    const forB = await summarizeEgress(db.pool, { filter: filter(lastHour), access: TEAM_B, now });
    assert.deepEqual(forB.allowedHosts, [{ host: "api.github.com", count: 1 }]);
    const empty = await summarizeEgress(db.pool, { filter: filter(), access: NOBODY, now });
    assert.deepEqual([empty.allowedHosts, empty.deniedHosts], [[], []]);
    assert.ok(empty.deniedOverTime.buckets.every((b) => b.count === 0));
  });

  it("lists exec and SSH sessions by team, keyset paged on (startedAt, id)", async () => {
    const pageAll = async (access: AuditAccess, input: Record<string, string>, limit: number) => {
      const rows = [];
      let cursor: string | null = null;
      for (let i = 0; i < 100; i++) {
        const page = await listSessions(db.pool, {
          filter: SessionFilter.parse(input),
          access,
          now,
          limit,
          cursor,
        });
        rows.push(...page.rows);
        if (!page.next) break;
        cursor = page.next;
      }
      return rows;
    };
    const all = await pageAll(ADMIN, {}, 100);
    assert.equal(all.length, 10);
    assert.deepEqual(
      (await pageAll(ADMIN, {}, 3)).map((r) => r.id),
      all.map((r) => r.id),
    );
    const b = await pageAll(TEAM_B, {}, 100);
    assert.deepEqual(
      b.map((r) => [r.user, r.command, r.exitCode]),
      [["bo@example.com", ["make"], 2]],
    );
    const ssh = await pageAll(TEAM_A, { kind: "ssh" }, 100);
    assert.deepEqual(
      ssh.map((r) => [r.kind, r.command, r.exitCode, r.reason]),
      [["ssh", [], null, "client gone"]],
    );
    assert.deepEqual(await pageAll(NOBODY, {}, 100), []);
  });
});
