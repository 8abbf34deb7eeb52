/**
 * The terminal's RBAC check on the real API server, with web/deploy/rbac.yaml
 * applied: a SelfSubjectAccessReview as the impersonated user for
 * `create sandboxes/exec`, which turgon-team-member grants in a team's
 * namespaces and turgon-admin everywhere; and the Sandbox's readiness, read
 * as the user.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { API_VERSION } from "@turgon/api/crd";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { impersonatedApis } from "../kube/impersonation.ts";
import { bindNamespace } from "../kube/teams.ts";
import {
  dashboardKubeConfig,
  eventually,
  installWebRbac,
  must,
  untilAllowed,
} from "../kube/testing.ts";
import { mayExec, sandboxReadiness } from "./access.ts";

describe("who may open a terminal", () => {
  const nsA = uniqueName("exec-a");
  const nsB = uniqueName("exec-b");
  const teamA = uniqueName("ea");
  const teamB = uniqueName("eb");
  const ada = { email: `ada-${teamA}@example.com`, teams: [teamA], admin: false };
  const bob = { email: `bob-${teamB}@example.com`, teams: [teamB], admin: false };
  const loner = { email: `eve-${teamA}@example.com`, teams: [], admin: false };
  const admin = { email: `root-${teamA}@example.com`, teams: [], admin: true };
  let dashboard: KubeConfig;

  before(async () => {
    await installWebRbac();
    dashboard = await dashboardKubeConfig();
    for (const ns of [nsA, nsB]) await must(["create", "namespace", ns]);
    const asAdmin = impersonatedApis(dashboard, admin);
    await bindNamespace(asAdmin, teamA, nsA);
    await bindNamespace(asAdmin, teamB, nsB);
    await untilAllowed(impersonatedApis(dashboard, ada), nsA, "create");
    await untilAllowed(impersonatedApis(dashboard, bob), nsB, "create");
  });

  after(async () => {
    await kubectl(["delete", "namespace", nsA, nsB, "--wait=false"]);
  });

  const may = (who: typeof ada, namespace: string) =>
    mayExec(impersonatedApis(dashboard, who), { namespace, name: "web" }).then((d) => d.allowed);

  it("a team member may exec in their team's namespaces only; an admin everywhere; a user in no team nowhere", async () => {
    assert.equal(await may(ada, nsA), true, "ada in her team's namespace");
    assert.equal(await may(ada, nsB), false, "ada in another team's namespace");
    assert.equal(await may(bob, nsB), true, "bob in his team's namespace");
    assert.equal(await may(bob, nsA), false, "bob in another team's namespace");
    assert.equal(await may(loner, nsA), false, "a user in no team");
    assert.equal(await may(admin, nsA), true, "an admin");
    assert.equal(await may(admin, nsB), true, "an admin");
  });

  it("asks for exactly create on sandboxes/exec: a role with every other sandbox right is not enough", async () => {
    const ns = uniqueName("exec-c");
    const user = `carol-${teamA}@example.com`;
    await must(["create", "namespace", ns]);
    try {
      const file = join(tmpdir(), `${ns}.json`);
      await writeFile(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: [
            {
              apiVersion: "rbac.authorization.k8s.io/v1",
              kind: "Role",
              metadata: { name: "no-exec", namespace: ns },
              rules: [
                {
                  apiGroups: ["turgon.dev"],
                  resources: ["sandboxes", "sandboxes/status"],
                  verbs: ["*"],
                },
                { apiGroups: ["turgon.dev"], resources: ["sandboxes/exec"], verbs: ["get"] },
              ],
            },
            {
              apiVersion: "rbac.authorization.k8s.io/v1",
              kind: "RoleBinding",
              metadata: { name: "no-exec", namespace: ns },
              roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "no-exec" },
              subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
            },
          ],
        }),
      );
      await must(["apply", "-f", file]);
      const carol = { email: user, teams: [], admin: false };
      await untilAllowed(impersonatedApis(dashboard, carol), ns, "delete");
      assert.equal(await may(carol, ns), false);
    } finally {
      await kubectl(["delete", "namespace", ns, "--wait=false"]);
    }
  });

  it("reads the sandbox as the user: missing, not ready (its phase), ready", async () => {
    const apis = impersonatedApis(dashboard, ada);
    assert.deepEqual(await sandboxReadiness(apis, { namespace: nsA, name: "web" }), {
      state: "missing",
    });
    const file = join(tmpdir(), `${nsA}-web.json`);
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: API_VERSION,
        kind: "Sandbox",
        metadata: { name: "web", namespace: nsA },
        spec: { image: "debian-python:latest" },
      }),
    );
    await must(["apply", "-f", file]);
    assert.deepEqual(await sandboxReadiness(apis, { namespace: nsA, name: "web" }), {
      state: "not-ready",
      phase: "Pending",
    });
    const now = new Date().toISOString();
    await must([
      "patch",
      "sandbox",
      "web",
      "-n",
      nsA,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          phase: "Running",
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Running",
              message: "the VM is running",
              lastTransitionTime: now,
            },
          ],
        },
      }),
    ]);
    await eventually(
      "the sandbox ready, as ada reads it",
      () => sandboxReadiness(apis, { namespace: nsA, name: "web" }),
      (r) => r.state === "ready",
    );
  });
});
