/**
 * Policy editing in Chromium, on a dashboard that runs as its own
 * Kubernetes identity against the test platform's API server: the list,
 * the editor's form and YAML views, errors next to their field (the
 * schema's, and the API server's CEL rule through a dry-run), the review
 * (diff and reach) and save, two owners saving the same version (the
 * second sees the first's change), history and restore, a member who may
 * only read, and another team's member refused by Kubernetes. No tRPC
 * response of the test may carry the injectable Secret's value.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { uniqueName } from "@turgon/dev/testing";
import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import type { BrowserSession } from "./browser/chromium.ts";
import { SeenByBrowsers } from "./browser/seen-by-browsers.ts";
import { startTwoTeams, TEST_PASSWORD, type TwoTeams } from "./policies-support.ts";
import { apply, must, signIn, trpcMutation, trpcQuery } from "./sandboxes-support.ts";

const SECRET_VALUE = `ghp_${uniqueName("value").replace(/-/g, "")}`;

describe("policies in the browser", () => {
  let world: TwoTeams<"owner" | "owner2" | "member" | "outsider">;
  let dashboard: TestDashboard;
  let owner: BrowserSession;
  let owner2: BrowserSession;
  let member: BrowserSession;
  let outsider: BrowserSession;
  const teamA = uniqueName("pa");
  const teamB = uniqueName("pb");
  const nsA = uniqueName("pol-a");
  const nsB = uniqueName("pol-b");
  const users = {
    owner: `${uniqueName("owner")}@example.com`,
    owner2: `${uniqueName("owner2")}@example.com`,
    member: `${uniqueName("member")}@example.com`,
    outsider: `${uniqueName("outsider")}@example.com`,
  };
  // Every body the browsers got, read through the test so none is missed when a page moves on.
  const seen = new SeenByBrowsers();

  before(async () => {
    world = await startTwoTeams({
      test: "policies",
      teams: { a: teamA, b: teamB },
      namespaces: { a: nsA, b: nsB },
      people: {
        owner: { email: users.owner, name: "Olive Owner", team: "a", role: "owner" },
        owner2: { email: users.owner2, name: "Otto Owner", team: "a", role: "owner" },
        member: { email: users.member, name: "Mia Member", team: "a", role: "member" },
        outsider: { email: users.outsider, name: "Ozzy Outsider", team: "b", role: "member" },
      },
      seen,
    });
    dashboard = world.dashboard;
    ({ owner, owner2, member, outsider } = world.browsers);
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "web", namespace: nsA },
      spec: { allowedHosts: ["example.com"] },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "theirs", namespace: nsB },
      spec: { allowedHosts: ["b.example"], mode: "report" },
    });
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "gh", namespace: nsA, labels: { "turgon.dev/injectable": "true" } },
      stringData: { token: SECRET_VALUE, user: "octocat" },
    });
  });

  after(() => world?.stop());

  const url = (path: string) => `${dashboard.url}${path}`;
  const byTestId = (b: BrowserSession, id: string) => b.page.getByTestId(id);
  /** Polls `read` (bounded: 10 s) until `accept` holds; returns the last value either way. */
  const eventually = async <T>(read: () => Promise<T>, accept: (value: T) => boolean) => {
    let value = await read();
    for (let i = 0; i < 100 && !accept(value); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      value = await read();
    }
    return value;
  };
  const hostInputs = async (b: BrowserSession) => {
    const inputs = await b.page.locator('input[data-testid^="host-"]').all();
    return Promise.all(inputs.map((input) => input.inputValue()));
  };

  it("lists the team's policies per namespace with mode and sandbox count; not another team's", async () => {
    await world.signIn("owner");
    await owner.visit(url("/policies"), "list");
    const row = byTestId(owner, `policy-row-${nsA}-web`);
    await row.waitFor();
    assert.equal(await row.getByTestId("policy-mode").textContent(), "enforce");
    assert.equal(await row.getByTestId("policy-sandboxes").textContent(), "0");
    assert.equal(await byTestId(owner, `policy-row-${nsB}-theirs`).count(), 0);
    await owner.page.getByRole("link", { name: "Policies" }).first().waitFor();
    // An owner makes a new, default-deny policy; a bad name is refused next to the field.
    await byTestId(owner, `new-policy-${nsA}`).click();
    await byTestId(owner, `new-policy-name-${nsA}`).fill("Not A Name");
    await owner.page.getByRole("button", { name: "Create" }).click();
    await byTestId(owner, `new-policy-error-${nsA}`).waitFor();
    assert.match(
      (await byTestId(owner, `new-policy-error-${nsA}`).textContent()) ?? "",
      /Kubernetes object name/,
    );
    await byTestId(owner, `new-policy-name-${nsA}`).fill("fresh");
    await owner.page.getByRole("button", { name: "Create" }).click();
    await owner.page.waitForURL(url(`/policies/${nsA}/fresh`));
    await byTestId(owner, "add-host").waitFor();
    assert.deepEqual(await hostInputs(owner), []);
    await owner.snap("created");
  });

  it("the form view: a bad host and a bad CIDR are refused next to the field; the API server's CEL rule too", async () => {
    const { page } = owner;
    await owner.visit(url(`/policies/${nsA}/web`), "editor");
    await byTestId(owner, "host-0").waitFor();
    assert.deepEqual(await hostInputs(owner), ["example.com"]);
    await byTestId(owner, "add-host").click();
    await byTestId(owner, "host-1").fill("http://bad/");
    await byTestId(owner, "error-spec.allowedHosts[1]").waitFor();
    assert.match(
      (await byTestId(owner, "error-spec.allowedHosts[1]").textContent()) ?? "",
      /must be a host name/,
    );
    await byTestId(owner, "host-1").fill("api.github.com");
    await byTestId(owner, "error-spec.allowedHosts[1]").waitFor({ state: "detached" });

    await byTestId(owner, "add-cidr").click();
    await byTestId(owner, "cidr-0").fill("10.0.0.0/33");
    await byTestId(owner, "error-spec.deniedCIDRs[0]").waitFor();
    await byTestId(owner, "check").click();
    // The dry-run's answer: the CRD's CEL rule isCIDR, named as the API server names the field.
    await page
      .getByTestId("error-spec.deniedCIDRs[0]")
      .filter({ hasText: "(API server)" })
      .waitFor();
    assert.match(
      (await byTestId(owner, "error-spec.deniedCIDRs[0]").textContent()) ?? "",
      /must be a CIDR.*\(API server\)/,
    );
    await owner.snap("cidr-refused-by-cel");
    await byTestId(owner, "cidr-0").fill("10.0.0.0/8");
    await byTestId(owner, "check").click();
    await page.getByTestId("check-result").filter({ hasText: "accepts" }).waitFor();
    await byTestId(owner, "method-DELETE").check();
  });

  it("the YAML view shows the same rules, keeps edits both ways, and names a YAML error", async () => {
    const { page } = owner;
    await byTestId(owner, "view-yaml").click();
    const yaml = byTestId(owner, "yaml-editor");
    const text = await yaml.inputValue();
    assert.match(text, /- api\.github\.com/);
    assert.match(text, /- 10\.0\.0\.0\/8/);
    assert.match(text, /- DELETE/);
    await yaml.fill(`${text}websockets: true\nallowedHosts: [\n`);
    await byTestId(owner, "view-form").click();
    await byTestId(owner, "yaml-error").waitFor();
    assert.match((await byTestId(owner, "yaml-error").textContent()) ?? "", /YAML line \d+/);
    await owner.snap("yaml-error");
    await yaml.fill(`${text}websockets: true\n`);
    await byTestId(owner, "view-form").click();
    await byTestId(owner, "host-0").waitFor();
    assert.equal(await byTestId(owner, "websockets").isChecked(), true);
    assert.deepEqual(await hostInputs(owner), ["example.com", "api.github.com"]);
    assert.equal(await page.getByTestId("method-DELETE").isChecked(), true);
  });

  it("picks an injectable Secret's key (names only), reviews the diff and reach, and saves", async () => {
    const { page } = owner;
    await byTestId(owner, "add-secret").click();
    await byTestId(owner, "secret-env-0").fill("GH_TOKEN");
    await page
      .getByTestId("secret-name-0")
      .locator('option[value="gh"]')
      .waitFor({ state: "attached" });
    await byTestId(owner, "secret-name-0").selectOption("gh");
    await byTestId(owner, "secret-key-0").selectOption("token");
    await byTestId(owner, "secret-hosts-0").fill("api.github.com");
    await byTestId(owner, "review").click();
    await byTestId(owner, "preview-diff").waitFor();
    const diff = (await byTestId(owner, "preview-diff").textContent()) ?? "";
    assert.match(diff, /\+\s*- api\.github\.com/);
    assert.match(diff, /\+websockets: true/);
    assert.match(diff, /\+\s*key: token/);
    assert.match(
      (await byTestId(owner, "preview-reaches").textContent()) ?? "",
      /No sandbox uses this policy/,
    );
    await byTestId(owner, "reason").fill("CI talks to GitHub");
    await owner.snap("review");
    await byTestId(owner, "save").click();
    await byTestId(owner, "saved").waitFor();
    await owner.snap("saved");
    const saved = JSON.parse(
      await must(["get", "sandboxpolicy", "web", "-n", nsA, "-o", "json"]),
    ) as { spec: Record<string, unknown> };
    assert.deepEqual(saved.spec.allowedHosts, ["example.com", "api.github.com"]);
    assert.deepEqual(saved.spec.deniedCIDRs, ["10.0.0.0/8"]);
    assert.equal(saved.spec.websockets, true);
    assert.deepEqual(saved.spec.secrets, [
      { name: "GH_TOKEN", hosts: ["api.github.com"], secretKeyRef: { name: "gh", key: "token" } },
    ]);
  });

  it("two owners edit the same version: the second save gets a conflict showing the first's change, and reloads", async () => {
    await world.signIn("owner2");
    await owner.visit(url(`/policies/${nsA}/web`), "editor-again");
    await owner2.visit(url(`/policies/${nsA}/web`), "editor-owner2");
    for (const b of [owner, owner2]) await byTestId(b, "host-0").waitFor();
    // The second owner saves first.
    await byTestId(owner2, "add-host").click();
    await byTestId(owner2, "host-2").fill("two.example");
    await byTestId(owner2, "review").click();
    await byTestId(owner2, "reason").fill("theirs first");
    await byTestId(owner2, "save").click();
    await byTestId(owner2, "saved").waitFor();
    // The first, still on the version they loaded.
    await byTestId(owner, "add-host").click();
    await byTestId(owner, "host-2").fill("one.example");
    await byTestId(owner, "review").click();
    await byTestId(owner, "save").click();
    await byTestId(owner, "conflict").waitFor();
    const conflict = (await byTestId(owner, "conflict").textContent()) ?? "";
    assert.ok(conflict.includes(users.owner2), conflict);
    assert.match(conflict, /theirs first/);
    const theirDiff = await byTestId(owner, "conflict-diff").locator("div").allTextContents();
    assert.deepEqual(
      theirDiff.filter((line) => /^[-+][^-+]/.test(line)).map((line) => line.trim()),
      ["+  - two.example"],
      "their change is exactly their one host",
    );
    await owner.snap("conflict");
    const now = JSON.parse(
      await must(["get", "sandboxpolicy", "web", "-n", nsA, "-o", "json"]),
    ) as {
      spec: { allowedHosts: string[] };
    };
    assert.deepEqual(now.spec.allowedHosts, ["example.com", "api.github.com", "two.example"]);
    await byTestId(owner, "reload").click();
    await byTestId(owner, "conflict").waitFor({ state: "detached" });
    await eventually(
      () => hostInputs(owner),
      (hosts) => hosts.includes("two.example"),
    );
    assert.deepEqual(await hostInputs(owner), ["example.com", "api.github.com", "two.example"]);
  });

  it("history shows who, when, why and the diff; restore writes a new version", async () => {
    await owner.visit(url(`/policies/${nsA}/web/history`), "history");
    await byTestId(owner, "version-1").waitFor();
    const newest = (await byTestId(owner, "version-0").textContent()) ?? "";
    assert.ok(newest.includes(users.owner2), newest);
    assert.match(newest, /theirs first/);
    const older = (await byTestId(owner, "version-1").textContent()) ?? "";
    assert.ok(older.includes(users.owner), older);
    assert.match(older, /CI talks to GitHub/);
    assert.match(older, /Allowed api\.github\.com/);
    // Restore the version before the second owner's change.
    await byTestId(owner, "restore-1").click();
    await byTestId(owner, "restored").waitFor();
    await owner.page.getByTestId("version-2").waitFor();
    assert.equal(await byTestId(owner, "version-0").getAttribute("data-action"), "restore");
    assert.match((await byTestId(owner, "version-0").textContent()) ?? "", /Removed two\.example/);
    await owner.snap("restored");
    const now = JSON.parse(
      await must(["get", "sandboxpolicy", "web", "-n", nsA, "-o", "json"]),
    ) as {
      spec: { allowedHosts: string[] };
    };
    assert.deepEqual(now.spec.allowedHosts, ["example.com", "api.github.com"]);
  });

  it("a plain member reads the policy but may not change it, in the page or by direct tRPC", async () => {
    await world.signIn("member");
    await member.visit(url(`/policies/${nsA}/web`), "member-readonly");
    await byTestId(member, "readonly-notice").waitFor();
    await member.visit(url("/policies"), "member-list");
    await byTestId(member, `policy-row-${nsA}-web`).waitFor();
    assert.equal(await byTestId(member, `new-policy-${nsA}`).count(), 0);
    await member.visit(url(`/policies/${nsA}/web`), "member-readonly-again");
    await byTestId(member, "readonly-notice").waitFor();
    assert.equal(await byTestId(member, "host-0").isDisabled(), true);
    const cookie = await signIn(dashboard.url, users.member, TEST_PASSWORD);
    const got = await trpcQuery(dashboard.url, cookie, "policies.get", {
      namespace: nsA,
      name: "web",
    });
    const data = got.data as { resourceVersion: string; canEdit: boolean };
    assert.equal(data.canEdit, false);
    const saved = await trpcMutation(dashboard.url, cookie, "policies.save", {
      namespace: nsA,
      name: "web",
      spec: { allowedHosts: ["*"] },
      resourceVersion: data.resourceVersion,
    });
    assert.equal(saved.error?.code, "FORBIDDEN", JSON.stringify(saved));
    const secrets = await trpcQuery(dashboard.url, cookie, "policies.injectableSecrets", {
      namespace: nsA,
    });
    assert.equal(secrets.error?.code, "FORBIDDEN");
  });

  it("another team's member is refused by Kubernetes: page and direct tRPC", async () => {
    await world.signIn("outsider");
    await outsider.visit(url("/policies"), "outsider-list");
    await byTestId(outsider, `policy-row-${nsB}-theirs`).waitFor();
    assert.equal(await byTestId(outsider, `policy-row-${nsA}-web`).count(), 0);
    await outsider.visit(url(`/policies/${nsA}/web`), "outsider-refused");
    await byTestId(outsider, "policy-error").waitFor({ timeout: 5_000 });
    await outsider.snap("outsider-refused-shown");
    assert.match((await byTestId(outsider, "policy-error").textContent()) ?? "", /forbidden/i);
    const cookie = await signIn(dashboard.url, users.outsider, TEST_PASSWORD);
    for (const [path, input] of [
      ["policies.get", { namespace: nsA, name: "web" }],
      ["policies.history", { namespace: nsA, name: "web" }],
    ] as const) {
      const answer = await trpcQuery(dashboard.url, cookie, path, input);
      assert.equal(answer.error?.code, "FORBIDDEN", `${path}: ${JSON.stringify(answer)}`);
    }
    for (const [path, input] of [
      [
        "policies.save",
        { namespace: nsA, name: "web", spec: { allowedHosts: ["*"] }, resourceVersion: "1" },
      ],
      ["policies.validate", { namespace: nsA, name: "web", spec: { allowedHosts: ["*"] } }],
      ["policies.preview", { namespace: nsA, name: "web", spec: { allowedHosts: ["*"] } }],
    ] as const) {
      const answer = await trpcMutation(dashboard.url, cookie, path, input);
      assert.equal(answer.error?.code, "FORBIDDEN", `${path}: ${JSON.stringify(answer)}`);
    }
    const now = JSON.parse(
      await must(["get", "sandboxpolicy", "web", "-n", nsA, "-o", "json"]),
    ) as {
      spec: { allowedHosts: string[] };
    };
    assert.deepEqual(now.spec.allowedHosts, ["example.com", "api.github.com"]);
  });

  it("no tRPC response, page or dashboard log line of this test carried the Secret's value", async () => {
    // The picker's responses name the Secret's keys ("token"), never a value.
    await seen.assertNeverCarried(SECRET_VALUE, {
      pages: [owner, owner2, member, outsider].map((b) => b.page),
      named: '"token"',
    });
    const log = await readFile(dashboard.logFile, "utf8");
    assert.ok(!log.includes(SECRET_VALUE), "the dashboard's log carried the Secret's value");
  });
});
