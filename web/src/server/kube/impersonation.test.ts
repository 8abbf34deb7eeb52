/**
 * Impersonation on the real API server: the dashboard's identity (a client
 * certificate for its ServiceAccount, bound by web/deploy/rbac.yaml) acts
 * as the signed-in user, and Kubernetes RBAC decides.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  RbacAuthorizationV1Api,
  Watch,
} from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "@turgon/api/crd";
import { kubectl, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { KubeApiError, PrincipalError } from "./errors.ts";
import { impersonatedApis, withImpersonation } from "./impersonation.ts";
import { ADMINS_GROUP, impersonationOf } from "./principal.ts";
import { bindNamespace } from "./teams.ts";
import {
  dashboardKubeConfig,
  installWebRbac,
  must,
  refusal,
  untilAllowed,
  whenServed,
} from "./testing.ts";

const sandboxes = { group: GROUP, version: VERSION, plural: "sandboxes" };
const allSandboxes = { group: GROUP, version: VERSION, resourcePlural: "sandboxes" };
const sandbox = (name: string) => ({
  apiVersion: API_VERSION,
  kind: "Sandbox",
  metadata: { name },
  spec: { image: "debian-python:latest" },
});

describe("principals", () => {
  it("become a user and groups: turgon:team:<team> per team, turgon:admins for admins", () => {
    assert.deepEqual(
      impersonationOf({ email: "ada@example.com", teams: ["ml", "web"], admin: true }),
      { user: "ada@example.com", groups: [ADMINS_GROUP, "turgon:team:ml", "turgon:team:web"] },
    );
    assert.deepEqual(impersonationOf({ email: "bob@example.com", teams: [], admin: false }), {
      user: "bob@example.com",
      groups: [],
    });
  });

  it("owners get turgon:team-owner:<team> too, only for a team they are a member of", () => {
    assert.deepEqual(
      impersonationOf({
        email: "ada@example.com",
        teams: ["ml", "web"],
        owns: ["web", "other"],
        admin: false,
      }),
      {
        user: "ada@example.com",
        groups: ["turgon:team-owner:web", "turgon:team:ml", "turgon:team:web"],
      },
    );
  });

  it("are refused, naming the field, when a name could become someone else", () => {
    const refused = (principal: { email: string; teams: string[] }, field: string) => {
      assert.throws(
        () => impersonationOf({ admin: false, ...principal }),
        (error: unknown) => error instanceof PrincipalError && error.field === field,
        JSON.stringify(principal),
      );
    };
    refused({ email: "system:admin", teams: [] }, "email");
    refused({ email: "system:kube-controller-manager@x.io", teams: [] }, "email");
    refused({ email: "ada@example.com\r\nImpersonate-Group: system:masters", teams: [] }, "email");
    refused({ email: "", teams: [] }, "email");
    refused({ email: "ada@example.com", teams: ["Team A"] }, "teams");
    refused({ email: "ada@example.com", teams: ["a,system:masters"] }, "teams");
    refused({ email: "ada@example.com", teams: ["x".repeat(64)] }, "teams");
  });

  it("send one Impersonate-Group header per group, and drop any other Impersonate-* header", () => {
    const headers = withImpersonation(
      {
        accept: "application/json",
        "impersonate-group": "system:masters",
        "Impersonate-User": "x",
      },
      "ada@example.com",
      ["turgon:team:a", "turgon:team:b"],
    );
    assert.deepEqual(headers, [
      "accept",
      "application/json",
      "Impersonate-User",
      "ada@example.com",
      "Impersonate-Group",
      "turgon:team:a",
      "Impersonate-Group",
      "turgon:team:b",
    ]);
  });
});

describe("impersonation on the real API server", () => {
  const nsA = uniqueName("team-a");
  const nsB = uniqueName("team-b");
  const teamA = uniqueName("a");
  const teamB = uniqueName("b");
  const ada = { email: `ada-${teamA}@example.com`, teams: [teamA, "other"], admin: false };
  const admin = { email: `root-${teamA}@example.com`, teams: [], admin: true };
  let dashboard: KubeConfig;

  before(async () => {
    await installWebRbac();
    dashboard = await dashboardKubeConfig();
    for (const ns of [nsA, nsB]) await must(["create", "namespace", ns]);
    const asAdmin = impersonatedApis(dashboard, admin);
    await bindNamespace(asAdmin, teamA, nsA);
    await bindNamespace(asAdmin, teamB, nsB);
    // RBAC in the API server follows new RoleBindings through an informer: wait until it has.
    await untilAllowed(impersonatedApis(dashboard, ada), nsA, "create");
  });

  after(async () => {
    await kubectl(["delete", "namespace", nsA, nsB, "--wait=false"]);
  });

  it("a member of team A gets, lists, creates and deletes sandboxes in A's namespace; Kubernetes refuses them (403) in team B's", async () => {
    const apis = impersonatedApis(dashboard, ada);
    const made = await apis.customObjects.createNamespacedCustomObject({
      ...sandboxes,
      namespace: nsA,
      body: sandbox("mine"),
    });
    assert.equal((made as { metadata: { name: string } }).metadata.name, "mine");
    const got = await apis.customObjects.getNamespacedCustomObject({
      ...sandboxes,
      namespace: nsA,
      name: "mine",
    });
    assert.equal((got as { metadata: { namespace: string } }).metadata.namespace, nsA);
    const listed = (await apis.customObjects.listNamespacedCustomObject({
      ...sandboxes,
      namespace: nsA,
    })) as { items: { metadata: { name: string } }[] };
    assert.deepEqual(
      listed.items.map((s) => s.metadata.name),
      ["mine"],
    );

    // Team B's sandbox, made by the platform's admin.
    await testKubeConfig()
      .makeApiClient(CustomObjectsApi)
      .createNamespacedCustomObject({ ...sandboxes, namespace: nsB, body: sandbox("theirs") });
    const inB = { ...sandboxes, namespace: nsB };
    for (const [what, call] of [
      ["get", () => apis.customObjects.getNamespacedCustomObject({ ...inB, name: "theirs" })],
      ["list", () => apis.customObjects.listNamespacedCustomObject(inB)],
      [
        "create",
        () => apis.customObjects.createNamespacedCustomObject({ ...inB, body: sandbox("x") }),
      ],
      ["delete", () => apis.customObjects.deleteNamespacedCustomObject({ ...inB, name: "theirs" })],
    ] as const) {
      const error = await call().then(
        () => assert.fail(`${what} in team B's namespace was allowed`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof KubeApiError, `${what}: ${error}`);
      assert.equal(error.status, 403, what);
      assert.equal(error.reason, "Forbidden", what);
      // The refusal names the user Kubernetes saw: the signed-in user, not the dashboard.
      assert.match(error.message, new RegExp(`User "${ada.email}" cannot`), what);
    }
    // Not everything in its own namespace either: Secrets stay out of reach.
    assert.equal(await refusal(apis.core.listNamespacedSecret({ namespace: nsA })), 403);
    // Nor across all namespaces, nor the namespace's binding.
    assert.equal(
      await refusal(apis.customObjects.listCustomObjectForAllNamespaces(allSandboxes)),
      403,
    );
    assert.equal(
      await refusal(
        apis.core.patchNamespace({ name: nsA, body: { metadata: { labels: { x: "y" } } } }),
      ),
      403,
    );
    await apis.customObjects.deleteNamespacedCustomObject({
      ...sandboxes,
      namespace: nsA,
      name: "mine",
    });
  });

  it("the API server sees the signed-in user and every group (SelfSubjectReview), and a SubjectAccessReview for them agrees", async () => {
    const apis = impersonatedApis(dashboard, { ...ada, admin: true });
    const review = await apis.authentication.createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    const user = review.status?.userInfo;
    assert.equal(user?.username, ada.email);
    assert.deepEqual(
      [...(user?.groups ?? [])].sort(),
      [ADMINS_GROUP, "system:authenticated", `turgon:team:${teamA}`, "turgon:team:other"].sort(),
      "three groups, three headers",
    );

    // The platform's admin asks RBAC about that user directly.
    const authz = testKubeConfig().makeApiClient(AuthorizationV1Api);
    const may = async (namespace: string, verb: string, resource = "sandboxes") =>
      (
        await authz.createSubjectAccessReview({
          body: {
            spec: {
              user: ada.email,
              groups: [`turgon:team:${teamA}`, "system:authenticated"],
              resourceAttributes: { group: GROUP, resource, namespace, verb },
            },
          },
        })
      ).status?.allowed;
    assert.equal(await may(nsA, "create"), true);
    assert.equal(await may(nsA, "delete"), true);
    assert.equal(await may(nsB, "get"), false);
    assert.equal(await may(nsB, "delete"), false);
    // Warm pools, like templates: members see their team's, admins make them.
    assert.equal(await may(nsA, "list", "sandboxwarmpools"), true);
    assert.equal(await may(nsA, "watch", "sandboxwarmpools"), true);
    assert.equal(await may(nsA, "create", "sandboxwarmpools"), false);
    assert.equal(await may(nsB, "list", "sandboxwarmpools"), false);
    // And as the user, through impersonation: what the dashboard asks to show or hide a button.
    const asAda = impersonatedApis(dashboard, ada);
    const self = await asAda.authorization.createSelfSubjectAccessReview({
      body: {
        spec: {
          resourceAttributes: {
            group: GROUP,
            resource: "sandboxes",
            namespace: nsB,
            verb: "delete",
          },
        },
      },
    });
    assert.equal(self.status?.allowed, false);
  });

  it("the dashboard's own identity may impersonate, list and watch, but cannot itself read one object or write", async () => {
    const custom = dashboard.makeApiClient(CustomObjectsApi);
    const core = dashboard.makeApiClient(CoreV1Api);
    await whenServed(() => custom.listCustomObjectForAllNamespaces(allSandboxes));
    await whenServed(() =>
      custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: "sandboxnodes" }),
    );
    await core.listNamespace();
    // A watch opens (and is closed at once).
    const watching = await new Watch(dashboard).watch(
      `/apis/${GROUP}/${VERSION}/sandboxes`,
      {},
      () => {},
      () => {},
    );
    watching.abort();

    const refused = async (what: string, call: () => Promise<unknown>) =>
      assert.equal(await refusal(call()), 403, what);
    await refused("get a sandbox", () =>
      custom.getNamespacedCustomObject({ ...sandboxes, namespace: nsA, name: "any" }),
    );
    await refused("create a sandbox", () =>
      custom.createNamespacedCustomObject({ ...sandboxes, namespace: nsA, body: sandbox("own") }),
    );
    await refused("delete sandboxes", () =>
      custom.deleteCollectionNamespacedCustomObject({ ...sandboxes, namespace: nsA }),
    );
    await refused("label a namespace", () =>
      core.patchNamespace({ name: nsA, body: { metadata: { labels: { x: "y" } } } }),
    );
    await refused("read a namespace", () => core.readNamespace({ name: nsA }));
    await refused("read secrets", () => core.listSecretForAllNamespaces());
    await refused("bind a role", () =>
      dashboard.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
        namespace: nsA,
        body: {
          metadata: { name: "sneaky" },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: "turgon-team-member",
          },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "x" }],
        },
      }),
    );
  });

  it("a signed-in user in no team may do nothing with sandboxes", async () => {
    const apis = impersonatedApis(dashboard, {
      email: "nobody@example.com",
      teams: [],
      admin: false,
    });
    for (const namespace of [nsA, nsB])
      assert.equal(
        await refusal(apis.customObjects.listNamespacedCustomObject({ ...sandboxes, namespace })),
        403,
      );
  });
});
