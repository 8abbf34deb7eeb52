/**
 * Binding namespaces to teams on the real API server, as an impersonated
 * admin through the dashboard's identity (web/deploy/rbac.yaml).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KubeConfig, V1Namespace, V1RoleBinding } from "@kubernetes/client-node";
import { TEAM_LABEL } from "@turgon/api/routing";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { KubeApiError, TeamBindingError } from "./errors.ts";
import { impersonatedApis } from "./impersonation.ts";
import { teamGroup, teamOwnerGroup } from "./principal.ts";
import {
  bindNamespace,
  TEAM_MEMBER_ROLE,
  TEAM_OWNER_ROLE,
  teamOwnerRoleBindingName,
  teamRoleBindingName,
  unbindNamespace,
} from "./teams.ts";
import { dashboardKubeConfig, installWebRbac, must, untilAllowed } from "./testing.ts";

/** The namespace's team label ("" when none), as kubectl shows it. */
async function teamOf(namespace: string): Promise<string> {
  const out = await must(["get", "namespace", namespace, "-o", "json"]);
  return (JSON.parse(out) as V1Namespace).metadata?.labels?.[TEAM_LABEL] ?? "";
}

/** The teams' RoleBindings of turgon-team-member (`owners` for those of turgon-team-owner). */
async function roleBindings(namespace: string, owners = false): Promise<V1RoleBinding[]> {
  const out = await must(["get", "rolebindings", "-n", namespace, "-o", "json"]);
  return (JSON.parse(out) as { items: V1RoleBinding[] }).items.filter(
    (rb) =>
      rb.metadata?.name?.startsWith("turgon-team-") &&
      rb.metadata.name.startsWith("turgon-team-owner-") === owners,
  );
}

const refusedWith = (reason: string, field: string) => (error: unknown) =>
  error instanceof TeamBindingError && error.reason === reason && error.field === field;

describe("binding namespaces to teams", () => {
  let dashboard: KubeConfig;
  const created: string[] = [];
  const namespace = async (prefix: string) => {
    const name = uniqueName(prefix);
    await must(["create", "namespace", name]);
    created.push(name);
    return name;
  };
  const admin = () =>
    impersonatedApis(dashboard, { email: "root@example.com", teams: [], admin: true });

  before(async () => {
    await installWebRbac();
    dashboard = await dashboardKubeConfig();
  });

  after(async () => {
    if (created.length > 0) await kubectl(["delete", "namespace", ...created, "--wait=false"]);
  });

  it("an admin binds a namespace: it is labelled, the team's RoleBinding made, and the team may work there; again changes nothing", async () => {
    const ns = await namespace("bind");
    const team = uniqueName("red");
    const bound = await bindNamespace(admin(), team, ns);
    assert.deepEqual(bound, {
      namespace: ns,
      team,
      roleBinding: teamRoleBindingName(team),
      changed: true,
    });
    assert.equal(await teamOf(ns), team);
    const [rb, ...others] = await roleBindings(ns);
    assert.equal(others.length, 0);
    assert.equal(rb?.metadata?.name, `turgon-team-${team}`);
    assert.deepEqual(rb?.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: TEAM_MEMBER_ROLE,
    });
    assert.deepEqual(
      rb?.subjects?.map((s) => [s.kind, s.name]),
      [["Group", teamGroup(team)]],
    );
    const [owners, ...moreOwners] = await roleBindings(ns, true);
    assert.equal(moreOwners.length, 0);
    assert.equal(owners?.metadata?.name, teamOwnerRoleBindingName(team));
    assert.equal(owners?.roleRef.name, TEAM_OWNER_ROLE);
    assert.deepEqual(
      owners?.subjects?.map((s) => [s.kind, s.name]),
      [["Group", teamOwnerGroup(team)]],
    );
    await untilAllowed(
      impersonatedApis(dashboard, { email: "ann@example.com", teams: [team], admin: false }),
      ns,
      "create",
    );

    const again = await bindNamespace(admin(), team, ns);
    assert.equal(again.changed, false);
    assert.equal((await roleBindings(ns)).length, 1);
    assert.equal((await roleBindings(ns, true)).length, 1);
  });

  it("a namespace bound to one team is refused to a second, and stays as it was", async () => {
    const ns = await namespace("taken");
    const first = uniqueName("red");
    const second = uniqueName("blue");
    await bindNamespace(admin(), first, ns);
    await assert.rejects(
      bindNamespace(admin(), second, ns),
      refusedWith("BoundToAnotherTeam", "namespace"),
    );
    assert.equal(await teamOf(ns), first);
    assert.deepEqual(
      (await roleBindings(ns)).map((rb) => rb.metadata?.name),
      [teamRoleBindingName(first)],
    );
    // Nor may the second team unbind it.
    await assert.rejects(
      unbindNamespace(admin(), second, ns),
      refusedWith("BoundToAnotherTeam", "namespace"),
    );
    assert.equal(await teamOf(ns), first);
  });

  it("two admins binding one namespace to two teams at once: one wins, the other is refused and leaves nothing behind", async () => {
    const ns = await namespace("race");
    const teams = [uniqueName("red"), uniqueName("blue")] as const;
    const results = await Promise.allSettled(teams.map((team) => bindNamespace(admin(), team, ns)));
    const won = results.findIndex((r) => r.status === "fulfilled");
    assert.ok(won >= 0, JSON.stringify(results));
    const lost = results[1 - won];
    assert.equal(lost?.status, "rejected");
    assert.ok(
      refusedWith("BoundToAnotherTeam", "namespace")((lost as PromiseRejectedResult).reason),
      String((lost as PromiseRejectedResult).reason),
    );
    assert.equal(await teamOf(ns), teams[won]);
    assert.deepEqual(
      (await roleBindings(ns)).map((rb) => rb.metadata?.name),
      [teamRoleBindingName(teams[won] as string)],
    );
  });

  it("unbinding removes the RoleBinding and the label; again, or for a namespace that is gone, changes nothing", async () => {
    const ns = await namespace("unbind");
    const team = uniqueName("red");
    const member = impersonatedApis(dashboard, {
      email: "ann@example.com",
      teams: [team],
      admin: false,
    });
    await bindNamespace(admin(), team, ns);
    await untilAllowed(member, ns, "get");
    const unbound = await unbindNamespace(admin(), team, ns);
    assert.equal(unbound.changed, true);
    assert.equal(await teamOf(ns), "");
    assert.deepEqual(await roleBindings(ns), []);
    await untilAllowed(member, ns, "get", false);
    assert.equal((await unbindNamespace(admin(), team, ns)).changed, false);
    assert.equal((await unbindNamespace(admin(), team, uniqueName("gone"))).changed, false);
  });

  it("refuses what is not a team or a namespace, or a namespace that does not exist, naming the field", async () => {
    await assert.rejects(
      bindNamespace(admin(), "Red Team", "x"),
      refusedWith("InvalidName", "team"),
    );
    await assert.rejects(
      bindNamespace(admin(), "red", "kube_system"),
      refusedWith("InvalidName", "namespace"),
    );
    await assert.rejects(
      bindNamespace(admin(), "red", uniqueName("missing")),
      refusedWith("NamespaceNotFound", "namespace"),
    );
  });

  it("a RoleBinding of the team's name that grants something else is left alone, and nothing is bound", async () => {
    const ns = await namespace("squat");
    const team = uniqueName("red");
    await must([
      "create",
      "rolebinding",
      teamRoleBindingName(team),
      "-n",
      ns,
      "--clusterrole=view",
      "--group=someone-else",
    ]);
    await assert.rejects(
      bindNamespace(admin(), team, ns),
      refusedWith("RoleBindingConflict", "namespace"),
    );
    assert.equal(await teamOf(ns), "");
    const [rb] = await roleBindings(ns);
    assert.equal(rb?.roleRef.name, "view");
  });

  it("a user who is not an admin is refused by Kubernetes (403), and nothing is left behind", async () => {
    const ns = await namespace("notadmin");
    const team = uniqueName("red");
    const member = impersonatedApis(dashboard, {
      email: "ann@example.com",
      teams: [team],
      admin: false,
    });
    const error = await bindNamespace(member, team, ns).then(
      () => assert.fail("a non-admin bound a namespace"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof KubeApiError && error.status === 403, String(error));
    assert.equal(await teamOf(ns), "");
    assert.deepEqual(await roleBindings(ns), []);
  });

  it("all or nothing: when the label cannot be written, the RoleBinding made for it is deleted again; when it cannot be removed, the RoleBinding comes back", async () => {
    const ns = await namespace("half");
    const team = uniqueName("red");
    // Someone whose rights stop half-way: RoleBindings in this namespace, but no namespace writes.
    const halfTeam = uniqueName("half");
    const role = `${halfTeam}-role`;
    await must([
      "create",
      "clusterrole",
      role,
      "--verb=get,create,delete",
      "--resource=rolebindings.rbac.authorization.k8s.io",
    ]);
    await must([
      "create",
      "clusterrole",
      `${role}-bind`,
      "--verb=bind",
      "--resource=clusterroles.rbac.authorization.k8s.io",
      `--resource-name=${TEAM_MEMBER_ROLE}`,
      `--resource-name=${TEAM_OWNER_ROLE}`,
    ]);
    await must(["create", "clusterrole", `${role}-ns`, "--verb=get", "--resource=namespaces"]);
    for (const r of [role, `${role}-bind`, `${role}-ns`])
      await must([
        "create",
        "clusterrolebinding",
        r,
        `--clusterrole=${r}`,
        `--group=${teamGroup(halfTeam)}`,
      ]);
    try {
      const half = impersonatedApis(dashboard, {
        email: "half@example.com",
        teams: [halfTeam],
        admin: false,
      });
      await untilAllowedToReadNamespace(half, ns);
      const error = await bindNamespace(half, team, ns).then(
        () => assert.fail("bound without the right to label the namespace"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof KubeApiError && error.status === 403, String(error));
      assert.match(error.message, /cannot patch resource "namespaces"/);
      assert.equal(await teamOf(ns), "");
      assert.deepEqual(await roleBindings(ns), [], "the RoleBinding made for it is gone again");
      assert.deepEqual(await roleBindings(ns, true), [], "and the owners' one");

      // Bound properly by an admin, then the half-admin tries to unbind.
      await bindNamespace(admin(), team, ns);
      const original = (await roleBindings(ns))[0]?.metadata?.uid;
      await assert.rejects(
        unbindNamespace(half, team, ns),
        (e: unknown) => e instanceof KubeApiError && e.status === 403,
      );
      assert.equal(await teamOf(ns), team);
      const [restored] = await roleBindings(ns);
      assert.equal(restored?.metadata?.name, teamRoleBindingName(team), "the RoleBinding is back");
      assert.notEqual(restored?.metadata?.uid, original, "made again, since it had been deleted");
      assert.equal((await roleBindings(ns, true)).length, 1, "the owners' RoleBinding is back too");
    } finally {
      for (const r of [role, `${role}-bind`, `${role}-ns`]) {
        await kubectl(["delete", "clusterrolebinding", r, "--ignore-not-found"]);
        await kubectl(["delete", "clusterrole", r, "--ignore-not-found"]);
      }
    }
  });
});

/** Waits until RBAC lets a new ClusterRoleBinding's group read `namespace`. */
async function untilAllowedToReadNamespace(
  apis: ReturnType<typeof impersonatedApis>,
  namespace: string,
) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await apis.core.readNamespace({ name: namespace });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
