/**
 * Helpers for the editing tests (policies, a sandbox's own rules, approvals):
 * bound namespaces with policies in them on the test platform's API server,
 * a scratch database, and the people who edit.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { TRPCError } from "@trpc/server";
import type { SandboxPolicy } from "@turgon/api/crd";
import { TEAM_LABEL } from "@turgon/api/routing";
import { kubectl, testEnvironment, uniqueName } from "@turgon/dev/testing";
import { createPrismaClient, type PrismaClient } from "@turgon/prisma";
import { migrateDatabase } from "@turgon/prisma/migrate";
import pg from "pg";
import { ZodError } from "zod";
import { impersonatedApis } from "../kube/impersonation.ts";
import type { Principal } from "../kube/principal.ts";
import { dashboardKubeConfig, installWebRbac, must } from "../kube/testing.ts";
import { mayEditPolicies } from "./access.ts";
import type { ActingPrincipal, PolicyDeps } from "./deps.ts";

async function onServer(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A database of the test's own on the test platform's PostgreSQL, migrated. */
export async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const server = new URL(testEnvironment().databaseUrl);
  const name = `policies_${process.pid}_${randomBytes(4).toString("hex")}`;
  await onServer(server.href, `CREATE DATABASE ${name}`);
  const url = new URL(server.href);
  url.pathname = `/${name}`;
  await migrateDatabase(url.href);
  return {
    url: url.href,
    drop: () => onServer(server.href, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Applies a Kubernetes object (JSON through kubectl's stdin). */
export async function applyObject(object: unknown): Promise<void> {
  const { writeFile, mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "policy-test-"));
  try {
    const file = join(dir, "object.json");
    await writeFile(file, JSON.stringify(object), { mode: 0o600 });
    await must(["apply", "-f", file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A namespace bound to a new team as the teams page binds it (label, member and owner RoleBindings). */
export async function boundNamespace(prefix: string): Promise<{ namespace: string; team: string }> {
  const bound = { namespace: uniqueName(prefix), team: uniqueName("team") };
  await bindNamespace(bound);
  return bound;
}

async function bindNamespace({ namespace, team }: { namespace: string; team: string }) {
  await must(["create", "namespace", namespace]);
  await must(["label", "namespace", namespace, `${TEAM_LABEL}=${team}`]);
  for (const [name, role, group] of [
    [`turgon-team-${team}`, "turgon-team-member", `turgon:team:${team}`],
    [`turgon-team-owner-${team}`, "turgon-team-owner", `turgon:team-owner:${team}`],
  ] as const)
    await applyObject({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }],
    });
}

/** Creates a SandboxPolicy as the cluster's admin. */
export async function createPolicyAsAdmin(
  namespace: string,
  name: string,
  spec: SandboxPolicy["spec"],
): Promise<void> {
  await applyObject({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "SandboxPolicy",
    metadata: { name, namespace },
    spec,
  });
}

/** Waits until RBAC lets `principal` update SandboxPolicies in `namespace` (new RoleBindings take a moment). */
export async function untilMayEditPolicies(
  dashboard: KubeConfig,
  principal: Principal,
  namespace: string,
): Promise<void> {
  const apis = impersonatedApis(dashboard, principal);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await mayEditPolicies(apis, namespace)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${principal.email} may still not edit SandboxPolicies in ${namespace}`);
}

export async function deleteNamespaces(names: string[]): Promise<void> {
  if (names.length > 0) await kubectl(["delete", "namespace", ...names, "--wait=false"]);
}

/**
 * The set-up the editing tests share: a namespace bound to a team with its
 * owner, a second owner and a member, another team's namespace with its
 * owner (the outsider), a scratch database, and `deps(who)` to act as one of
 * them (impersonated, so Kubernetes RBAC decides). Call it in a describe:
 * it registers the before (which waits until RBAC lets both owners edit)
 * and the after (which drops the database and deletes the namespaces). The
 * names and people are known at once; `db` and `dashboard` once before ran.
 */
export interface PolicyEditors {
  namespace: string;
  otherNamespace: string;
  owner: ActingPrincipal;
  owner2: ActingPrincipal;
  member: ActingPrincipal;
  outsider: ActingPrincipal;
  deps: (who: ActingPrincipal) => PolicyDeps;
  readonly db: PrismaClient;
  readonly dashboard: KubeConfig;
}

export function policyEditors(prefix: string): PolicyEditors {
  const bound = { namespace: uniqueName(prefix), team: uniqueName("team") };
  const other = { namespace: uniqueName(`${prefix}-other`), team: uniqueName("team") };
  const owner: ActingPrincipal = {
    userId: "u-owner",
    email: "owner@example.com",
    teams: [bound.team],
    owns: [bound.team],
    admin: false,
  };
  const outsider: ActingPrincipal = {
    userId: "u-out",
    email: "outsider@example.com",
    teams: [other.team],
    owns: [other.team],
    admin: false,
  };
  let db: PrismaClient | undefined;
  let dashboard: KubeConfig | undefined;
  let drop: (() => Promise<void>) | undefined;
  const ready = <T>(value: T | undefined): T => {
    assert.ok(value !== undefined, "policyEditors: used before its before() ran");
    return value;
  };
  before(async () => {
    await installWebRbac();
    dashboard = await dashboardKubeConfig();
    const database = await scratchDatabase();
    drop = database.drop;
    db = createPrismaClient(database.url);
    await Promise.all([bindNamespace(bound), bindNamespace(other)]);
    await untilMayEditPolicies(dashboard, owner, bound.namespace);
    await untilMayEditPolicies(dashboard, outsider, other.namespace);
  });
  after(async () => {
    await db?.$disconnect();
    await drop?.();
    await deleteNamespaces([bound.namespace, other.namespace]);
  });
  return {
    namespace: bound.namespace,
    otherNamespace: other.namespace,
    owner,
    owner2: { ...owner, userId: "u-owner2", email: "owner2@example.com" },
    member: { userId: "u-member", email: "member@example.com", teams: [bound.team], admin: false },
    outsider,
    deps: (who) => ({ apis: impersonatedApis(ready(dashboard), who), db: ready(db) }),
    get db() {
      return ready(db);
    },
    get dashboard() {
      return ready(dashboard);
    },
  };
}

/** The field errors of a BAD_REQUEST from the editing services, by field. */
export function fieldErrorsOf(error: unknown): Record<string, string[]> {
  assert.ok(error instanceof TRPCError, String(error));
  assert.ok(error.cause instanceof ZodError);
  const out: Record<string, string[]> = {};
  for (const issue of error.cause.issues) {
    const key = String(issue.path[0] ?? "");
    out[key] = [...(out[key] ?? []), issue.message];
  }
  return out;
}
