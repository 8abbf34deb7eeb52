/**
 * Exports against a scratch PostgreSQL: CSV cells escaped (quotes, commas,
 * line breaks, formulas), and every format carrying exactly the list's
 * rows for the same filter and access, across many batches.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AuditFilter, EGRESS_COLUMNS, type EgressRow, SessionFilter } from "../../lib/audit.ts";
import { csvCell, exportRows, finishExport, recordExport } from "./export.ts";
import { type AuditAccess, listEgress } from "./query.ts";
import {
  createAuditDatabase,
  type EgressSeed,
  insertEgressEvents,
  insertSessions,
  parseCsv,
  type ScratchAuditDatabase,
} from "./testing.ts";

const now = new Date();
const TEAM_A: AuditAccess = { all: false, teams: ["team-a"] };

async function collect(source: AsyncGenerator<string>): Promise<string> {
  let text = "";
  for await (const chunk of source) text += chunk;
  return text;
}

describe("csvCell", () => {
  it("quotes what needs quoting and defuses formulas", () => {
    assert.equal(csvCell("plain"), "plain");
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell("a,b"), '"a,b"');
    assert.equal(csvCell("line\nbreak"), '"line\nbreak"');
    assert.equal(csvCell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    assert.equal(csvCell("+1"), "'+1");
    assert.equal(csvCell("-x,y"), `"'-x,y"`);
    assert.equal(csvCell("@sum"), "'@sum");
    assert.equal(csvCell(-5), "-5");
    assert.equal(csvCell(null), "");
    assert.equal(csvCell(["A", "B"]), "A;B");
  });
});

describe("audit exports on PostgreSQL", () => {
  let db: ScratchAuditDatabase;

  before(async () => {
    db = await createAuditDatabase("audit_export");
    const seeds: EgressSeed[] = [];
    for (let i = 0; i < 230; i++)
      seeds.push({
        time: new Date(now.getTime() - (i % 50) * 60_000), // many ties on time
        namespace: i % 3 ? "ns-a" : "ns-b",
        sandbox: "web",
        team: i % 3 ? "team-a" : "team-b",
        host: i % 7 ? `h${i % 11}.example.com` : "evil.example.com",
        decision: i % 7 ? "allowed" : "denied",
        path: i === 5 ? '/a,"b"\nc' : `/p/${i}`,
        reason: i === 10 ? "=cmd|' /C calc'!A0" : undefined,
        secrets: i % 13 ? [] : ["TOKEN_A", "TOKEN_B"],
      });
    await insertEgressEvents(db.pool, seeds);
    await insertSessions(db.pool, [
      {
        user: "ana@example.com",
        namespace: "ns-a",
        sandbox: "web",
        team: "team-a",
        command: ["sh", "-c", "echo a,b"],
        startedAt: new Date(now.getTime() - 60_000),
      },
    ]);
  });
  after(async () => {
    await db?.drop();
  });

  it("exports exactly the list's rows as NDJSON and CSV, batch after batch", async () => {
    const filter = AuditFilter.parse({ range: "1h", host: "*.example.com" });
    const listed: EgressRow[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 100; i++) {
      const page = await listEgress(db.pool, { filter, access: TEAM_A, now, limit: 50, cursor });
      listed.push(...page.rows);
      if (!page.next) break;
      cursor = page.next;
    }
    assert.equal(listed.length, 153);
    const ndjson = await collect(
      exportRows(
        db.pool,
        { kind: "egress", filter },
        { access: TEAM_A, now, format: "ndjson", batch: 17 },
      ),
    );
    const lines = ndjson
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as EgressRow);
    assert.deepEqual(lines, listed);

    let counted = 0;
    const csv = await collect(
      exportRows(
        db.pool,
        { kind: "egress", filter },
        {
          access: TEAM_A,
          now,
          format: "csv",
          batch: 17,
          onRows: (n) => {
            counted = n;
          },
        },
      ),
    );
    assert.equal(counted, 153);
    const [header, ...records] = parseCsv(csv);
    assert.deepEqual(header, [...EGRESS_COLUMNS]);
    assert.equal(records.length, listed.length);
    for (const [i, record] of records.entries()) {
      const row = listed[i] as EgressRow;
      const expected = EGRESS_COLUMNS.map((column) => {
        const value = row[column];
        if (value === null) return "";
        const text = Array.isArray(value) ? value.join(";") : String(value);
        return typeof value === "string" && /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
      });
      assert.deepEqual(record, expected, `row ${i}`);
    }
    assert.ok(csv.includes(`"/a,""b""\nc"`), "a path with a comma, quotes and a newline is quoted");
    assert.ok(csv.includes("'=cmd"), "a formula is defused");
    assert.ok(lines.every((row) => row.team === "team-a"));
  });

  it("exports sessions and records exports with their row counts", async () => {
    const csv = await collect(
      exportRows(
        db.pool,
        { kind: "sessions", filter: SessionFilter.parse({}) },
        { access: TEAM_A, now, format: "csv" },
      ),
    );
    const [, record] = parseCsv(csv);
    assert.equal(record?.[4], "ana@example.com");
    assert.equal(record?.[9], "sh;-c;echo a,b");
    const id = await recordExport(db.pool, {
      userId: "u1",
      userEmail: "ana@example.com",
      kind: "egress",
      format: "csv",
      filter: { range: "1h" },
    });
    await finishExport(db.pool, id, 153);
    const { rows } = await db.pool.query<{ userEmail: string; rows: string; filter: unknown }>(
      `SELECT "userEmail", rows::text, filter FROM audit_export WHERE id = $1`,
      [id],
    );
    assert.deepEqual(rows, [
      { userEmail: "ana@example.com", rows: "153", filter: { range: "1h" } },
    ]);
  });
});
