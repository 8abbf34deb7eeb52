/** Helpers for this folder's tests: a bound namespace with a policy in it, on the test platform's API server. */

import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import type { SandboxPolicy } from "@turgon/api/crd";
import { TEAM_LABEL } from "@turgon/api/routing";
import { kubectl, testEnvironment, uniqueName } from "@turgon/dev/testing";
import { migrateDatabase } from "@turgon/prisma/migrate";
import pg from "pg";
import { impersonatedApis } from "../kube/impersonation.ts";
import type { Principal } from "../kube/principal.ts";
import { must } from "../kube/testing.ts";

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
  const namespace = uniqueName(prefix);
  const team = uniqueName("team");
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
  return { namespace, team };
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
    const review = await apis.authorization.createSelfSubjectAccessReview({
      body: {
        spec: {
          resourceAttributes: {
            group: "turgon.dev",
            resource: "sandboxpolicies",
            verb: "update",
            namespace,
          },
        },
      },
    });
    if (review.status?.allowed) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${principal.email} may still not edit SandboxPolicies in ${namespace}`);
}

export async function deleteNamespaces(names: string[]): Promise<void> {
  if (names.length > 0) await kubectl(["delete", "namespace", ...names, "--wait=false"]);
}
