/**
 * A sandbox's own network rules (spec.network) edited in Chromium, on a
 * dashboard that runs as its own Kubernetes identity against the test
 * platform's API server. No operator and no VM: the Sandbox stays Pending,
 * which the editor and the effective view need nothing more than. An owner
 * picks the namespace's SandboxPolicy and adds inline rules; the effective
 * view beside it updates with origin "inline"; a bad CIDR is refused next to
 * its field (the schema's, then the API server's CEL rule through a
 * dry-run), and so is a host the policy allows no override for (the
 * operator's rule); a status write between load and save is no conflict,
 * but a second owner's save over the first's is, showing their change;
 * history lists both with restore; a secret is picked by name and key, and
 * its value reaches no tRPC response or page; another team's member is
 * refused by Kubernetes in the page and through direct tRPC calls.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { uniqueName } from "@turgon/dev/testing";
import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import type { BrowserSession } from "./browser/chromium.ts";
import { SeenByBrowsers } from "./browser/seen-by-browsers.ts";
import { startTwoTeams, TEST_PASSWORD, type TwoTeams } from "./policies-support.ts";
import { apply, must, signIn, trpcMutation, trpcQuery } from "./sandboxes-support.ts";

const SECRET_VALUE = `ghp_${uniqueName("value").replace(/-/g, "")}`;

describe("a sandbox's own network rules in the browser", () => {
  let world: TwoTeams<"owner" | "owner2" | "outsider">;
  let dashboard: TestDashboard;
  let owner: BrowserSession;
  let owner2: BrowserSession;
  let outsider: BrowserSession;
  const teamA = uniqueName("na");
  const teamB = uniqueName("nb");
  const nsA = uniqueName("net-a");
  const nsB = uniqueName("net-b");
  const users = {
    owner: `${uniqueName("owner")}@example.com`,
    owner2: `${uniqueName("owner2")}@example.com`,
    outsider: `${uniqueName("outsider")}@example.com`,
  };

  // Every body the browsers got, read through the test so none is missed when a page moves on.
  const seen = new SeenByBrowsers();

  before(async () => {
    world = await startTwoTeams({
      test: "sandbox-network",
      teams: { a: teamA, b: teamB },
      namespaces: { a: nsA, b: nsB },
      people: {
        owner: { email: users.owner, name: "Olive Owner", team: "a", role: "owner" },
        owner2: { email: users.owner2, name: "Otto Owner", team: "a", role: "owner" },
        outsider: { email: users.outsider, name: "Ozzy Outsider", team: "b", role: "member" },
      },
      seen,
    });
    dashboard = world.dashboard;
    ({ owner, owner2, outsider } = world.browsers);
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "base", namespace: nsA },
      spec: { allowedHosts: ["example.com", "*.github.com"], allowSandboxOverrides: true },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "strict", namespace: nsA },
      spec: { allowedHosts: ["example.com"] },
    });
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "gh", namespace: nsA, labels: { "turgon.dev/injectable": "true" } },
      stringData: { token: SECRET_VALUE },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "app", namespace: nsA },
      spec: { image: "debian:test", env: [{ name: "KEEP", value: "me" }] },
    });
  });

  after(() => world?.stop());

  const url = (path: string) => `${dashboard.url}${path}`;
  const networkTab = () => url(`/sandboxes/${nsA}/app?tab=network`);
  const editor = (b: BrowserSession) => b.page.getByTestId("network-editor");
  const inEditor = (b: BrowserSession, id: string) => editor(b).getByTestId(id);
  /** The effective view's row of `field`: its text and its origin badge. */
  const effectiveRule = async (b: BrowserSession, field: string) => {
    const row = b.page.getByTestId("effective-policy").locator(`[data-rule="${field}"]`);
    return {
      text: (await row.textContent()) ?? "",
      origin: await row.locator("[data-origin]").getAttribute("data-origin"),
    };
  };
  const sandboxNetwork = async () =>
    JSON.parse(await must(["get", "sandbox", "app", "-n", nsA, "-o", "json"])) as {
      spec: { network?: Record<string, unknown>; image: string; env: unknown };
      status?: { phase?: string };
    };

  it("an owner picks the policy and adds an inline host; the effective view beside updates with origin inline", async () => {
    await world.signIn("owner");
    await owner.visit(networkTab(), "network-tab");
    await inEditor(owner, "policy-ref").waitFor();
    assert.equal((await effectiveRule(owner, "allowedHosts")).origin, "default");
    await inEditor(owner, "policy-ref").selectOption("base");
    await inEditor(owner, "policy-ref-overrides").waitFor();
    await inEditor(owner, "add-host").click();
    await inEditor(owner, "host-0").fill("api.example.org");
    await inEditor(owner, "review").click();
    await inEditor(owner, "preview-diff").waitFor();
    const diff = (await inEditor(owner, "preview-diff").textContent()) ?? "";
    assert.match(diff, /\+\s*- api\.example\.org/);
    assert.match(diff, /\+policyRef:/);
    assert.match((await inEditor(owner, "preview-reaches").textContent()) ?? "", /app.*Pending/);
    await inEditor(owner, "reason").fill("the app calls example.org");
    await owner.snap("network-review");
    await inEditor(owner, "save").click();
    await inEditor(owner, "saved").waitFor();
    // The effective view refreshes: the inline list replaces the policy's, marked inline.
    await owner.page
      .getByTestId("effective-policy")
      .locator('[data-rule="allowedHosts"] [data-origin="inline"]')
      .waitFor();
    const hosts = await effectiveRule(owner, "allowedHosts");
    assert.match(hosts.text, /api\.example\.org/);
    assert.equal((await effectiveRule(owner, "mode")).origin, "default");
    await owner.snap("network-saved");
    const saved = await sandboxNetwork();
    assert.deepEqual(saved.spec.network, {
      policyRef: { name: "base" },
      allowedHosts: ["api.example.org"],
    });
    assert.equal(saved.spec.image, "debian:test");
    assert.deepEqual(saved.spec.env, [{ name: "KEEP", value: "me" }]);
  });

  it("a bad CIDR is refused next to its field, by the schema and by the API server's CEL rule; an override the policy forbids too", async () => {
    await inEditor(owner, "add-cidr").click();
    await inEditor(owner, "cidr-0").fill("10.0.0.0/33");
    await inEditor(owner, "error-spec.network.deniedCIDRs[0]").waitFor();
    await inEditor(owner, "check").click();
    await editor(owner)
      .getByTestId("error-spec.network.deniedCIDRs[0]")
      .filter({ hasText: "(API server)" })
      .waitFor();
    assert.match(
      (await inEditor(owner, "error-spec.network.deniedCIDRs[0]").textContent()) ?? "",
      /must be a CIDR.*\(API server\)/,
    );
    await owner.snap("network-cidr-refused");
    await inEditor(owner, "cidr-0").fill("10.0.0.0/8");
    // The strict policy allows no overrides: the inline host it does not allow is named.
    await inEditor(owner, "policy-ref").selectOption("strict");
    await inEditor(owner, "check").click();
    await inEditor(owner, "error-spec.network.allowedHosts[0]").waitFor();
    assert.match(
      (await inEditor(owner, "error-spec.network.allowedHosts[0]").textContent()) ?? "",
      /api\.example\.org.*allowSandboxOverrides: true.*\(operator\)/,
    );
    await owner.snap("network-override-refused");
    await inEditor(owner, "policy-ref").selectOption("base");
    await inEditor(owner, "check").click();
    await inEditor(owner, "check-result").filter({ hasText: "accepts" }).waitFor();
  });

  it("a status write after loading is no conflict; a second owner's save over the first's is, showing their change", async () => {
    await world.signIn("owner2");
    await owner.visit(networkTab(), "network-again");
    await owner2.visit(networkTab(), "network-owner2");
    for (const b of [owner, owner2]) await inEditor(b, "host-0").waitFor();
    // The operator writes status often: that alone must not refuse anyone's save.
    await must([
      "patch",
      "sandbox",
      "app",
      "-n",
      nsA,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Running" } }),
    ]);
    await inEditor(owner2, "add-host").click();
    await inEditor(owner2, "host-1").fill("two.example.org");
    await inEditor(owner2, "review").click();
    await inEditor(owner2, "reason").fill("theirs first");
    await inEditor(owner2, "save").click();
    await inEditor(owner2, "saved").waitFor();

    await inEditor(owner, "method-DELETE").check();
    await inEditor(owner, "review").click();
    await inEditor(owner, "save").click();
    await inEditor(owner, "conflict").waitFor();
    const conflict = (await inEditor(owner, "conflict").textContent()) ?? "";
    assert.ok(conflict.includes(users.owner2), conflict);
    assert.match(conflict, /theirs first/);
    const theirDiff = await inEditor(owner, "conflict-diff").locator("div").allTextContents();
    assert.deepEqual(
      theirDiff.filter((line) => /^[-+][^-+]/.test(line)).map((line) => line.trim()),
      ["+  - two.example.org"],
    );
    await owner.snap("network-conflict");
    const now = await sandboxNetwork();
    assert.deepEqual(now.spec.network?.allowedHosts, ["api.example.org", "two.example.org"]);
    assert.equal(now.spec.network?.deniedMethods, undefined, "nothing was overwritten");
    assert.equal(now.status?.phase, "Running");
    await inEditor(owner, "reload").click();
    await inEditor(owner, "conflict").waitFor({ state: "detached" });
    await inEditor(owner, "host-1").waitFor();
    assert.equal(await inEditor(owner, "host-1").inputValue(), "two.example.org");
  });

  it("history lists who, why and the diff; restore writes the earlier version as a new one", async () => {
    const history = owner.page.getByTestId("network-history");
    await history.getByTestId("network-version-1").waitFor();
    const newest = (await history.getByTestId("network-version-0").textContent()) ?? "";
    assert.ok(newest.includes(users.owner2), newest);
    assert.match(newest, /theirs first/);
    const older = (await history.getByTestId("network-version-1").textContent()) ?? "";
    assert.ok(older.includes(users.owner), older);
    assert.match(older, /Allowed api\.example\.org/);
    await history.getByTestId("network-restore-1").click();
    await history.getByTestId("restored").waitFor();
    await history.getByTestId("network-version-2").waitFor();
    assert.equal(
      await history.getByTestId("network-version-0").getAttribute("data-action"),
      "restore",
    );
    // The editor beside, untouched since, shows the restored rules; so does the effective view.
    await inEditor(owner, "host-1").waitFor({ state: "detached" });
    assert.equal(await inEditor(owner, "host-0").inputValue(), "api.example.org");
    assert.doesNotMatch((await effectiveRule(owner, "allowedHosts")).text, /two\.example\.org/);
    await owner.snap("network-restored");
    assert.deepEqual((await sandboxNetwork()).spec.network?.allowedHosts, ["api.example.org"]);
  });

  it("a secret by injectable Secret and key (names only) joins the inline rules and shows in the effective view", async () => {
    await inEditor(owner, "add-secret").click();
    await inEditor(owner, "secret-env-0").fill("GH_TOKEN");
    await editor(owner)
      .getByTestId("secret-name-0")
      .locator('option[value="gh"]')
      .waitFor({ state: "attached" });
    await inEditor(owner, "secret-name-0").selectOption("gh");
    await inEditor(owner, "secret-key-0").selectOption("token");
    await inEditor(owner, "secret-hosts-0").fill("api.example.org");
    await inEditor(owner, "check").click();
    await inEditor(owner, "check-result").filter({ hasText: "accepts" }).waitFor();
    await inEditor(owner, "review").click();
    await inEditor(owner, "save").click();
    await inEditor(owner, "saved").waitFor();
    const secrets = owner.page.getByTestId("effective-secrets");
    await secrets.filter({ hasText: "GH_TOKEN" }).waitFor();
    assert.equal(await secrets.locator('[data-origin="inline"]').count(), 1);
    await owner.snap("network-secret");
    assert.deepEqual((await sandboxNetwork()).spec.network?.secrets, [
      { name: "GH_TOKEN", hosts: ["api.example.org"], secretKeyRef: { name: "gh", key: "token" } },
    ]);
  });

  it("another team's member is refused by Kubernetes: page and direct tRPC", async () => {
    await world.signIn("outsider");
    await outsider.visit(networkTab(), "network-outsider");
    await outsider.page.getByTestId("refusal").waitFor({ timeout: 5_000 });
    assert.match((await outsider.page.getByTestId("refusal").textContent()) ?? "", /forbidden/i);
    await outsider.snap("network-outsider-refused");
    const cookie = await signIn(dashboard.url, users.outsider, TEST_PASSWORD);
    for (const path of ["sandboxNetwork.get", "sandboxNetwork.history"]) {
      const answer = await trpcQuery(dashboard.url, cookie, path, { namespace: nsA, name: "app" });
      assert.equal(answer.error?.code, "FORBIDDEN", `${path}: ${JSON.stringify(answer)}`);
    }
    const network = { allowedHosts: ["*"] };
    for (const [path, input] of [
      ["sandboxNetwork.save", { namespace: nsA, name: "app", network, loadedNetwork: {} }],
      ["sandboxNetwork.validate", { namespace: nsA, name: "app", network }],
      ["sandboxNetwork.preview", { namespace: nsA, name: "app", network }],
    ] as const) {
      const answer = await trpcMutation(dashboard.url, cookie, path, input);
      assert.equal(answer.error?.code, "FORBIDDEN", `${path}: ${JSON.stringify(answer)}`);
    }
    assert.deepEqual((await sandboxNetwork()).spec.network?.allowedHosts, ["api.example.org"]);
  });

  it("a crafted sandbox or namespace name is refused by name before it reaches a Kubernetes URL", async () => {
    const cookie = await signIn(dashboard.url, users.owner, TEST_PASSWORD);
    const before = (await sandboxNetwork()).spec.network;
    const crafted = [
      { namespace: nsA, name: "../../api/v1/secrets" },
      { namespace: nsA, name: "app/status" },
      { namespace: nsA, name: "app%2F..%2Fother" },
      { namespace: nsA, name: "App" },
      { namespace: nsA, name: "a".repeat(254) },
      { namespace: `${nsA}/../kube-system`, name: "app" },
    ];
    for (const ref of crafted) {
      const answer = await trpcQuery(dashboard.url, cookie, "sandboxNetwork.get", ref);
      assert.equal(
        answer.error?.code,
        "BAD_REQUEST",
        `${JSON.stringify(ref)}: ${JSON.stringify(answer)}`,
      );
      const field = ref.namespace === nsA ? "name" : "namespace";
      assert.match(
        JSON.stringify(answer.error),
        new RegExp(`\\b${field}\\b`),
        JSON.stringify(answer),
      );
      const saved = await trpcMutation(dashboard.url, cookie, "sandboxNetwork.save", {
        ...ref,
        network: { allowedHosts: ["*"] },
        loadedNetwork: {},
      });
      assert.equal(
        saved.error?.code,
        "BAD_REQUEST",
        `${JSON.stringify(ref)}: ${JSON.stringify(saved)}`,
      );
    }
    assert.deepEqual((await sandboxNetwork()).spec.network, before, "nothing was saved");
  });

  it("no tRPC response or page of this test carried the Secret's value", async () => {
    // The picker's responses name the Secret's keys ("token"), never a value.
    await seen.assertNeverCarried(SECRET_VALUE, {
      pages: [owner, owner2, outsider].map((b) => b.page),
      named: '"token"',
    });
  });
});
