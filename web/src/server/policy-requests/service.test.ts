/**
 * Requests against the test platform's PostgreSQL (a migrated scratch
 * database, egress rows as the worker commits them, teams as better-auth
 * writes them): create from a visible event, not from another team's,
 * dedupe, approval through the applier as the approver (a refusal leaves
 * the request pending), reject, decided twice, allow-now, who allowed a
 * host, and the report-mode rollout's hosts. The applier here stands in
 * for the policy core's applyAllowHost: it refuses non-owners as RBAC
 * would, and records a policy_change as it does.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import {
  createAuditDatabase,
  insertEgressEvents,
  type ScratchAuditDatabase,
} from "../audit/testing.ts";
import {
  type Actor,
  type AllowHostApplier,
  allowedBy,
  allowNow,
  approveRequest,
  createRequest,
  listRequests,
  rejectRequest,
  requestsForEvent,
  type TeamDirectory,
  wouldDenyHosts,
} from "./service.ts";

const now = new Date();
const ago = (ms: number) => new Date(now.getTime() - ms);

const owner: Actor = { id: "u-owner", email: "owner@a.test", isAdmin: false, teams: ["team-a"] };
const member: Actor = { id: "u-member", email: "member@a.test", isAdmin: false, teams: ["team-a"] };
const outsider: Actor = { id: "u-b", email: "b@b.test", isAdmin: false, teams: ["team-b"] };

const teams: TeamDirectory = {
  teamOf: (ns) => ({ "ns-a": "team-a", "ns-b": "team-b" })[ns] ?? null,
  namespacesOf: (ts) => {
    const wanted = new Set(ts);
    return ["ns-a", "ns-b"].filter((ns) => wanted.has(teams.teamOf(ns) ?? ""));
  },
};

async function expectCode(promise: Promise<unknown>, code: string): Promise<TRPCError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TRPCError, `expected a TRPCError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("policy requests", () => {
  let db: ScratchAuditDatabase;
  const applied: { actor: string; host: string; requestId: string }[] = [];
  const apply: AllowHostApplier = async (actor, input) => {
    if (actor.email !== owner.email)
      throw new TRPCError({ code: "FORBIDDEN", message: "sandboxpolicies is forbidden" });
    applied.push({ actor: actor.email, host: input.host, requestId: input.requestId });
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO policy_change (id, namespace, kind, name, action, "resourceVersion", diff,
         "addedHosts", "removedHosts", "requestId", "userId", "userEmail")
       VALUES (gen_random_uuid(), $1, $2, $3, 'approve', '2', '', ARRAY[$4], '{}', $5::uuid, $6, $7)
       RETURNING id::text AS id`,
      [input.namespace, input.kind, input.name, input.host, input.requestId, actor.id, actor.email],
    );
    return { id: rows[0]?.id ?? "" };
  };
  const denied = { id: randomUUID(), time: ago(60_000) };
  const inline = { id: randomUUID(), time: ago(50_000) };
  const otherTeam = { id: randomUUID(), time: ago(40_000) };
  const allowed = { id: randomUUID(), time: ago(30_000) };

  before(async () => {
    db = await createAuditDatabase("policy_requests");
    await db.pool.query(
      `INSERT INTO "user" (id, name, email) VALUES ('u-owner','Owner','owner@a.test'),
         ('u-member','Member','member@a.test'), ('u-b','B','b@b.test');
       INSERT INTO organization (id, name, slug) VALUES ('o-a','Team A','team-a'), ('o-b','Team B','team-b');
       INSERT INTO member (id, "organizationId", "userId", role) VALUES
         ('m1','o-a','u-owner','owner'), ('m2','o-a','u-member','member'), ('m3','o-b','u-b','owner');`,
    );
    await insertEgressEvents(db.pool, [
      {
        ...denied,
        namespace: "ns-a",
        sandbox: "box",
        team: "team-a",
        host: "api.example.com",
        decision: "denied",
        policy: "web",
      },
      {
        ...inline,
        namespace: "ns-a",
        sandbox: "box2",
        team: "team-a",
        host: "x.inline.test",
        decision: "denied",
      },
      {
        ...otherTeam,
        namespace: "ns-b",
        sandbox: "bx",
        team: "team-b",
        host: "b.example.com",
        decision: "denied",
        policy: "p",
      },
      {
        ...allowed,
        namespace: "ns-a",
        sandbox: "box",
        team: "team-a",
        host: "ok.test",
        decision: "allowed",
        policy: "web",
      },
      {
        time: ago(20_000),
        namespace: "ns-a",
        sandbox: "box",
        team: "team-a",
        host: "r1.test",
        decision: "would-deny",
        policy: "web",
      },
      {
        time: ago(10_000),
        namespace: "ns-a",
        sandbox: "box3",
        team: "team-a",
        host: "r1.test",
        decision: "would-deny",
        policy: "web",
      },
      {
        time: ago(5_000),
        namespace: "ns-a",
        sandbox: "box",
        team: "team-a",
        host: "r2.test",
        decision: "would-deny",
        policy: "web",
      },
      {
        time: ago(5_000),
        namespace: "ns-a",
        sandbox: "box",
        team: "team-a",
        host: "r3.test",
        decision: "would-deny",
        policy: "other",
      },
    ]);
  });
  after(async () => db?.drop());

  const key = (e: { id: string; time: Date }) => ({
    eventId: e.id,
    eventTime: e.time.toISOString(),
  });

  let requestId = "";
  it("creates a request from a denied event the member can see, targeting its policy", async () => {
    const { request, duplicate } = await createRequest(db.pool, member, {
      ...key(denied),
      reason: "docs",
    });
    assert.equal(duplicate, false);
    assert.deepEqual(
      [
        request.namespace,
        request.kind,
        request.name,
        request.host,
        request.status,
        request.requestedByEmail,
        request.reason,
      ],
      ["ns-a", "SandboxPolicy", "web", "api.example.com", "pending", "member@a.test", "docs"],
    );
    requestId = request.id;
  });

  it("dedupes: a second request for the same target and host returns the pending one", async () => {
    const again = await createRequest(db.pool, owner, key(denied));
    assert.equal(again.duplicate, true);
    assert.equal(again.request.id, requestId);
    const wider = await createRequest(db.pool, member, { ...key(denied), host: "*.example.com" });
    assert.equal(wider.duplicate, false, "a wildcard is another host");
    await rejectRequest(db.pool, teams, owner, { id: wider.request.id, note: "too wide" });
  });

  it("targets the sandbox when the event had no policy", async () => {
    const { request } = await createRequest(db.pool, member, key(inline));
    assert.deepEqual([request.kind, request.name], ["Sandbox", "box2"]);
  });

  it("refuses another team's event (NOT_FOUND), an allowed one, and a host that does not cover it", async () => {
    await expectCode(createRequest(db.pool, member, key(otherTeam)), "NOT_FOUND");
    const allowedErr = await expectCode(
      createRequest(db.pool, member, key(allowed)),
      "BAD_REQUEST",
    );
    assert.match(allowedErr.message, /^eventId:/);
    const hostErr = await expectCode(
      createRequest(db.pool, member, { ...key(denied), host: "*.other.com" }),
      "BAD_REQUEST",
    );
    assert.match(hostErr.message, /^host:/);
  });

  it("lists: the owner sees the team's requests, the member only their own, the outsider none", async () => {
    const mine = await createRequest(db.pool, owner, { ...key(denied), host: "*.example.com" });
    const forOwner = await listRequests(db.pool, teams, owner, { status: "pending" });
    assert.ok(forOwner.some((r) => r.id === requestId && r.canDecide));
    const forMember = await listRequests(db.pool, teams, member, { status: "pending" });
    assert.ok(forMember.every((r) => r.requestedById === member.id && !r.canDecide));
    assert.ok(!forMember.some((r) => r.id === mine.request.id));
    assert.deepEqual(await listRequests(db.pool, teams, outsider, { status: "all" }), []);
    await rejectRequest(db.pool, teams, owner, { id: mine.request.id });
  });

  it("a member cannot approve (FORBIDDEN from the applier) and the request stays pending", async () => {
    await expectCode(approveRequest(db.pool, teams, member, { id: requestId }, apply), "FORBIDDEN");
    await expectCode(rejectRequest(db.pool, teams, member, { id: requestId }), "FORBIDDEN");
    await expectCode(
      approveRequest(db.pool, teams, outsider, { id: requestId }, apply),
      "NOT_FOUND",
    );
    const [still] = await requestsForEvent(db.pool, member, key(denied)).then((rs) =>
      rs.filter((r) => r.id === requestId),
    );
    assert.equal(still?.status, "pending");
  });

  it("the owner approves: applied as the owner, linked to the change; who allowed the host answers", async () => {
    const approved = await approveRequest(
      db.pool,
      teams,
      owner,
      { id: requestId, note: "ok" },
      apply,
    );
    assert.equal(approved.status, "approved");
    assert.equal(approved.decidedByEmail, "owner@a.test");
    assert.equal(approved.decisionNote, "ok");
    assert.ok(approved.changeId);
    assert.deepEqual(applied.at(-1), { actor: "owner@a.test", host: "api.example.com", requestId });
    const changes = await allowedBy(db.pool, member, key(denied));
    assert.equal(changes[0]?.id, approved.changeId);
    assert.equal(changes[0]?.userEmail, "owner@a.test");
    assert.equal(changes[0]?.requestId, requestId);
    await expectCode(allowedBy(db.pool, outsider, key(denied)), "NOT_FOUND");
  });

  it("a decided request cannot be decided again (CONFLICT)", async () => {
    const err = await expectCode(
      approveRequest(db.pool, teams, owner, { id: requestId }, apply),
      "CONFLICT",
    );
    assert.match(err.message, /approved by owner@a\.test/);
    await expectCode(rejectRequest(db.pool, teams, owner, { id: requestId }), "CONFLICT");
  });

  it("rejects with a note", async () => {
    const { request } = await createRequest(db.pool, member, key(inline));
    const rejected = await rejectRequest(db.pool, teams, owner, { id: request.id, note: "no" });
    assert.deepEqual(
      [rejected.status, rejected.decisionNote, rejected.changeId],
      ["rejected", "no", null],
    );
  });

  it("allow now: owners only, recorded as an approved request", async () => {
    await expectCode(allowNow(db.pool, teams, member, key(inline), apply), "FORBIDDEN");
    const done = await allowNow(db.pool, teams, owner, { ...key(inline), reason: "needed" }, apply);
    assert.deepEqual(
      [done.status, done.requestedByEmail, done.decidedByEmail],
      ["approved", "owner@a.test", "owner@a.test"],
    );
    assert.ok(done.changeId);
  });

  it("lists the would-deny hosts of a policy, with counts and first/last seen", async () => {
    const hosts = await wouldDenyHosts(db.pool, member, {
      namespace: "ns-a",
      policy: "web",
      range: "1h",
    });
    assert.deepEqual(
      hosts.map((h) => [h.host, h.count, h.sandboxes]),
      [
        ["r1.test", 2, 2],
        ["r2.test", 1, 1],
      ],
    );
    assert.ok(hosts[0] && hosts[0].firstSeen < hosts[0].lastSeen);
    assert.deepEqual(
      await wouldDenyHosts(db.pool, outsider, { namespace: "ns-a", policy: "web" }),
      [],
    );
  });
});

describe("host patterns", () => {
  it("covers a host by itself or a *. wildcard over a parent, never a bare parent or *", async () => {
    const { patternCovers, coveringPatterns } = await import("./service.ts");
    assert.ok(patternCovers("api.example.com", "API.example.com"));
    assert.ok(patternCovers("*.example.com", "api.example.com"));
    assert.ok(patternCovers("*.example.com", "a.b.example.com"));
    assert.ok(!patternCovers("*.example.com", "example.com"));
    assert.ok(!patternCovers("*.api.example.com", "api.example.com"));
    assert.ok(!patternCovers("*", "api.example.com"));
    assert.ok(!patternCovers("*.xample.com", "api.example.com"));
    assert.deepEqual(coveringPatterns("a.b.example.com"), [
      "a.b.example.com",
      "*.b.example.com",
      "*.example.com",
    ]);
  });
});
