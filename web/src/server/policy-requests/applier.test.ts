/**
 * A request whose target is a sandbox's own rules (its denied event had no
 * SandboxPolicy), from denial to approval with the real applier: the
 * member's request from the event, the owner's approval as themselves
 * (impersonation on the test platform's API server), the host in the
 * Sandbox's spec.network.allowedHosts, the history row linked to the
 * request (which keeps the event), and "who allowed this host" answering
 * from it. A member approving is refused and leaves it pending.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { TRPCError } from "@trpc/server";
import { createPrismaClient, type PrismaClient } from "@turgon/prisma";
import {
  createAuditDatabase,
  insertEgressEvents,
  type ScratchAuditDatabase,
} from "../audit/testing.ts";
import { impersonatedApis } from "../kube/impersonation.ts";
import { dashboardKubeConfig, installWebRbac } from "../kube/testing.ts";
import { historyOf } from "../policies/changes.ts";
import type { ActingPrincipal } from "../policies/deps.ts";
import {
  applyObject,
  boundNamespace,
  deleteNamespaces,
  untilMayEditPolicies,
} from "../policies/testing.ts";
import { readSandbox } from "../sandbox-network/kube.ts";
import { allowHostApplier } from "./applier.ts";
import {
  type Actor,
  allowedBy,
  approveRequest,
  createRequest,
  type TeamDirectory,
} from "./service.ts";

describe("approving a request for a sandbox's own rules", () => {
  let dashboard: KubeConfig;
  let audit: ScratchAuditDatabase;
  let prisma: PrismaClient;
  let namespace: string;
  let team: string;
  let teams: TeamDirectory;
  const event = { id: randomUUID(), time: new Date(Date.now() - 60_000) };
  const principal = (who: Actor, owns: boolean): ActingPrincipal => ({
    userId: who.id,
    email: who.email,
    teams: who.teams,
    ...(owns ? { owns: who.teams } : {}),
    admin: false,
  });
  const applierOf = (who: Actor, owns: boolean) => {
    const acting = principal(who, owns);
    return allowHostApplier(acting, { apis: impersonatedApis(dashboard, acting), db: prisma });
  };
  let owner: Actor;
  let member: Actor;

  before(async () => {
    await installWebRbac();
    dashboard = await dashboardKubeConfig();
    ({ namespace, team } = await boundNamespace("sbreq"));
    teams = {
      teamOf: (ns) => (ns === namespace ? team : null),
      namespacesOf: (ts) => ([...ts].includes(team) ? [namespace] : []),
    };
    owner = { id: "u-owner", email: "owner@a.test", isAdmin: false, teams: [team] };
    member = { id: "u-member", email: "member@a.test", isAdmin: false, teams: [team] };
    audit = await createAuditDatabase("sandbox_requests");
    prisma = createPrismaClient(audit.url);
    await audit.pool.query(
      `INSERT INTO "user" (id, name, email) VALUES ('u-owner','Owner','owner@a.test'),
         ('u-member','Member','member@a.test')`,
    );
    await audit.pool.query(`INSERT INTO organization (id, name, slug) VALUES ('o-a','Team A',$1)`, [
      team,
    ]);
    await audit.pool.query(
      `INSERT INTO member (id, "organizationId", "userId", role) VALUES
         ('m1','o-a','u-owner','owner'), ('m2','o-a','u-member','member')`,
    );
    await insertEgressEvents(audit.pool, [
      {
        ...event,
        namespace,
        sandbox: "box",
        team,
        host: "files.example.net",
        decision: "denied",
      },
    ]);
    await applyObject({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "box", namespace },
      spec: { image: "debian:test", network: { allowedHosts: ["keep.example"] } },
    });
    await untilMayEditPolicies(dashboard, principal(owner, true), namespace);
  });

  after(async () => {
    await prisma?.$disconnect();
    await audit?.drop();
    await deleteNamespaces([namespace].filter(Boolean));
  });

  it("the member requests, cannot approve; the owner approves into spec.network, linked to the request and its event", async () => {
    const { request } = await createRequest(audit.pool, member, {
      eventId: event.id,
      eventTime: event.time.toISOString(),
      reason: "downloads",
    });
    assert.equal(request.kind, "Sandbox");
    assert.equal(request.name, "box");

    await assert.rejects(
      approveRequest(audit.pool, teams, member, { id: request.id }, applierOf(member, false)),
      (error) => error instanceof TRPCError && error.code === "FORBIDDEN",
    );
    const apis = impersonatedApis(dashboard, principal(owner, true));
    assert.deepEqual((await readSandbox(apis, namespace, "box")).spec.network?.allowedHosts, [
      "keep.example",
    ]);

    const approved = await approveRequest(
      audit.pool,
      teams,
      owner,
      { id: request.id, note: "fine" },
      applierOf(owner, true),
    );
    assert.equal(approved.status, "approved");
    assert.equal(approved.decidedByEmail, "owner@a.test");
    assert.equal(approved.eventId, event.id);
    assert.deepEqual((await readSandbox(apis, namespace, "box")).spec.network?.allowedHosts, [
      "keep.example",
      "files.example.net",
    ]);
    const change = await prisma.policyChange.findUniqueOrThrow({
      where: { id: approved.changeId ?? "" },
    });
    assert.equal(change.kind, "Sandbox");
    assert.equal(change.action, "approve");
    assert.equal(change.requestId, request.id);
    assert.equal(change.userEmail, "owner@a.test");
    assert.equal(change.reason, "downloads");

    const who = await allowedBy(audit.pool, member, {
      eventId: event.id,
      eventTime: event.time.toISOString(),
    });
    assert.deepEqual(
      who.map((row) => [row.kind, row.name, row.userEmail, row.requestId]),
      [["Sandbox", "box", "owner@a.test", request.id]],
    );

    // The sandbox's history names both people and the event the request came from.
    const [version] = await historyOf(prisma, { namespace, kind: "Sandbox", name: "box" });
    assert.equal(version?.userEmail, "owner@a.test");
    assert.deepEqual(
      [
        version?.request?.id,
        version?.request?.requestedByEmail,
        version?.request?.reason,
        version?.request?.eventId,
        version?.request?.eventTime?.getTime(),
        version?.request?.eventSandbox,
      ],
      [request.id, "member@a.test", "downloads", event.id, event.time.getTime(), "box"],
    );
  });
});
