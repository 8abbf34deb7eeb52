/**
 * Issue 13's "Must show" on a real VM: the whole stack (API server,
 * operator, node agent with a QEMU guest, router, Redis), the dashboard on
 * PostgreSQL with the audit worker, and Chromium. One VM serves every test
 * (boots are slow); each test sets the policy it starts from, through the
 * dashboard's tRPC as the owner, so any one runs alone.
 *
 * - A host allowed in the policy editor reaches the guest within seconds,
 *   with no reboot; removed, it is denied again.
 * - A secret added in the editor is injected live: the guest holds only a
 *   placeholder, the host gets the value, and no tRPC response, page or log
 *   carries the value.
 * - A member asks from the denied event on the audit page; the owner
 *   approves on the requests page; the guest reaches the host live; the
 *   history and the request name both people and link the event.
 * - Restoring an earlier version on the history page applies it live.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ExternalHost, kubectl, startExternalHost, uniqueName } from "@turgon/dev/testing";
import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import { type Stack, startStack } from "@turgon/operator/testing";
import type pg from "pg";
import { type AuditedDashboard, startAuditedDashboard } from "./audit-support.ts";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { SeenByBrowsers } from "./browser/seen-by-browsers.ts";
import { must } from "./cluster.ts";
import { guestCurl, guestVariable, savePolicy, until, vmHostPid } from "./policies-live-support.ts";
import { signInInBrowser, TEST_PASSWORD } from "./policies-support.ts";
import { addTeamUser, bindNamespace, signIn } from "./sandboxes-support.ts";

/** How long a user waits at most for a saved change to reach the guest. */
const LIVE_WITHIN_MS = 30_000;

describe("policies edited in the browser reach a running VM live", () => {
  let stack: Stack;
  /** Host X of the tests: allowed and removed in the editor, the secret's host. */
  let hostX: ExternalHost;
  /** Host Y: asked for by a member, approved by the owner. */
  let hostY: ExternalHost;
  let dashboard: TestDashboard;
  let audited: AuditedDashboard;
  let pool: pg.Pool;
  let owner: BrowserSession;
  let member: BrowserSession;
  let ownerCookie = "";
  let uid = "";
  let bootedAt = "";
  let bootPid = 0;
  const seen = new SeenByBrowsers();
  const secretValue = `live-secret-${randomBytes(12).toString("hex")}`;
  const ns = uniqueName("pol-live");
  const team = uniqueName("plt");
  const ref = { namespace: ns, name: "live" };
  const users = {
    owner: { email: `${uniqueName("olive")}@example.com`, name: "Olive Owner" },
    member: { email: `${uniqueName("mia")}@example.com`, name: "Mia Member" },
  };
  const url = (path: string) => `${dashboard.url}${path}`;

  /** A screenshot, and the page's HTML kept for the leak check. */
  const snap = async (b: BrowserSession, name: string) => {
    await b.snap(name);
    await seen.keep(b.page);
  };
  const visit = async (b: BrowserSession, path: string, name: string) => {
    await b.visit(url(path), name);
    await seen.keep(b.page);
  };
  const startedAt = async () =>
    (
      await must(["get", "sandbox", "guest", "-n", ns, "-o", "jsonpath={.status.startedAt}"])
    ).trim();
  const assertNoReboot = async () => {
    assert.equal(await startedAt(), bootedAt, "status.startedAt is unchanged: no reboot");
    assert.equal(await vmHostPid(stack, uid), bootPid, "the same QEMU process runs the guest");
  };
  /** The policy's rules set by the owner through tRPC, and the guest seeing them. */
  const startFrom = async (spec: Record<string, unknown>, reason: string) =>
    savePolicy(dashboard.url, ownerCookie, ref, spec, reason);
  const curlX = (path: string, header?: string) =>
    guestCurl(stack, uid, `${hostX.url}${path}`, header);
  const curlY = (path: string) => guestCurl(stack, uid, `${hostY.url}${path}`);
  const hostInputs = async (b: BrowserSession) => {
    const inputs = await b.page.locator('input[data-testid^="host-"]').all();
    return Promise.all(inputs.map((input) => input.inputValue()));
  };
  /** Review (the change reaches the guest live), a reason, save; the time of the click. */
  const reviewAndSave = async (b: BrowserSession, reason: string, name: string) => {
    await b.page.getByTestId("review").click();
    await b.page.getByTestId("preview-diff").waitFor();
    await b.page.getByTestId("reach-guest").waitFor();
    await b.page.getByTestId("reason").fill(reason);
    await snap(b, `${name}-review`);
    const clicked = Date.now();
    await b.page.getByTestId("save").click();
    await b.page.getByTestId("saved").waitFor();
    await snap(b, `${name}-saved`);
    return clicked;
  };
  const report = (what: string, savedAt: number, reached: { ms: number; reads: number }) => {
    const ms = Date.now() - savedAt;
    console.log(
      `# ${what}: ${ms} ms from the click (${reached.ms} ms polling, ${reached.reads} guest reads)`,
    );
    return ms;
  };

  before(async () => {
    stack = await startStack();
    hostX = await startExternalHost();
    hostY = await startExternalHost();
    owner = await openBrowser("policies-live-owner");
    member = await openBrowser("policies-live-member");
    await seen.watch(owner.page);
    await seen.watch(member.page);
    audited = await startAuditedDashboard(stack.redisUrl, owner.artifacts);
    ({ dashboard, pool } = audited);
    await must(["create", "namespace", ns]);
    await bindNamespace(ns, team);
    await addTeamUser(dashboard, { ...users.owner, password: TEST_PASSWORD, team, role: "owner" });
    await addTeamUser(dashboard, {
      ...users.member,
      password: TEST_PASSWORD,
      team,
      role: "member",
    });
    const objects = [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "upstream", namespace: ns, labels: { "turgon.dev/injectable": "true" } },
        stringData: { token: secretValue },
      },
      {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "SandboxPolicy",
        metadata: ref,
        spec: { allowedHosts: [] },
      },
      {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name: "guest", namespace: ns, labels: stack.labels },
        spec: { image: "debian-python:latest", network: { policyRef: { name: "live" } } },
      },
    ];
    const file = join(stack.dir, "policies-live.json");
    await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
    await must(["apply", "-f", file]);
    await must(["wait", "sandbox/guest", "-n", ns, "--for=condition=Ready", "--timeout=240s"]);
    uid = (
      await must(["get", "sandbox", "guest", "-n", ns, "-o", "jsonpath={.metadata.uid}"])
    ).trim();
    bootedAt = await startedAt();
    bootPid = await vmHostPid(stack, uid);
    assert.ok(bootedAt && bootPid > 0, "the guest runs");
    await signInInBrowser(owner, dashboard.url, users.owner.email);
    await signInInBrowser(member, dashboard.url, users.member.email);
    ownerCookie = await signIn(dashboard.url, users.owner.email, TEST_PASSWORD);
  });

  after(async () => {
    await member?.close();
    await owner?.close();
    await audited?.stop();
    await kubectl(["delete", "sandbox", "guest", "-n", ns, "--timeout=60s", "--ignore-not-found"]);
    await stack?.stop();
    await hostX?.stop();
    await hostY?.stop();
    await kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
  });

  it("a host allowed in the editor reaches the guest within seconds, with no reboot; removed, it is denied again", async () => {
    await startFrom({ allowedHosts: [] }, "start: nothing allowed");
    await until(
      "the guest is denied host X",
      () => curlX("/before"),
      (code) => code === 403,
    );

    await visit(owner, `/policies/${ns}/live`, "allow-editor");
    await owner.page.getByTestId("add-host").waitFor();
    const index = (await hostInputs(owner)).length;
    await owner.page.getByTestId("add-host").click();
    await owner.page.getByTestId(`host-${index}`).fill(hostX.address);
    const savedAt = await reviewAndSave(owner, "the guest needs host X", "allow");
    const allowed = await until(
      "the guest reaches host X",
      () => curlX("/after-allow"),
      (code) => code === 200,
      { timeoutMs: LIVE_WITHIN_MS },
    );
    report("save → the guest's first allowed request", savedAt, allowed);
    assert.ok(
      hostX.received.some((r) => r.url === "/after-allow"),
      "host X got the request",
    );
    await assertNoReboot();

    await visit(owner, `/policies/${ns}/live`, "remove-editor");
    await owner.page.getByTestId("host-0").waitFor();
    const at = (await hostInputs(owner)).indexOf(hostX.address);
    assert.ok(at >= 0, "the editor shows host X");
    await owner.page.getByTestId(`remove-host-${at}`).click();
    const removedAt = await reviewAndSave(owner, "host X is no longer needed", "remove");
    const denied = await until(
      "the guest is denied host X again",
      () => curlX("/after-remove"),
      (code) => code === 403,
      { timeoutMs: LIVE_WITHIN_MS },
    );
    report("save → the guest's first denied request", removedAt, denied);
    assert.ok(!hostX.received.some((r) => r.url === "/after-remove"), "nothing reached host X");
    await assertNoReboot();
  });

  it("a secret added in the editor is injected live: the guest holds a placeholder, host X gets the value, and no browser response, page or log carries it", async () => {
    await startFrom({ allowedHosts: [hostX.address] }, "start: host X, no secret");
    await until(
      "the guest reaches host X",
      () => curlX("/no-secret"),
      (code) => code === 200,
    );
    assert.equal(await guestVariable(stack, uid, "UPSTREAM_TOKEN"), "unset");

    const { page } = owner;
    await visit(owner, `/policies/${ns}/live`, "secret-editor");
    await page.getByTestId("add-secret").waitFor();
    const index = await page.locator('[data-testid^="secret-row-"]').count();
    await page.getByTestId("add-secret").click();
    await page.getByTestId(`secret-env-${index}`).fill("UPSTREAM_TOKEN");
    await page
      .getByTestId(`secret-name-${index}`)
      .locator('option[value="upstream"]')
      .waitFor({ state: "attached" });
    await page.getByTestId(`secret-name-${index}`).selectOption("upstream");
    await page.getByTestId(`secret-key-${index}`).selectOption("token");
    await page.getByTestId(`secret-hosts-${index}`).fill(hostX.address);
    const savedAt = await reviewAndSave(owner, "the guest calls host X's API", "secret");
    const injected = await until(
      "a new guest process has the secret's variable",
      () => guestVariable(stack, uid, "UPSTREAM_TOKEN"),
      (value) => value !== "unset",
      { timeoutMs: LIVE_WITHIN_MS },
    );
    report("save → the secret's placeholder in a new guest process", savedAt, injected);
    const placeholder = injected.value;
    assert.ok(placeholder.length > 0, "a placeholder");
    assert.ok(!placeholder.includes(secretValue), "the guest never holds the value");
    assert.equal(
      await curlX("/with-secret", "Authorization: Bearer $UPSTREAM_TOKEN"),
      200,
      "the guest's request with the placeholder goes through",
    );
    assert.equal(
      hostX.received.find((r) => r.url === "/with-secret")?.headers.authorization,
      `Bearer ${secretValue}`,
      "host X got the real value",
    );
    await assertNoReboot();

    // The value reached no browser, page, or component's log.
    const { bodies, pages } = seen.all();
    // The responses that name the secret were seen: the picker's keys, the saved policy.
    assert.ok(
      bodies.some((body) => body.includes('"token"')),
      "the secret picker's key names were seen",
    );
    assert.ok(
      bodies.some((body) => body.includes("UPSTREAM_TOKEN")),
      "the saved secret was seen",
    );
    assert.ok(
      pages.some((html) => html.includes("UPSTREAM_TOKEN")),
      "a page showed the secret",
    );
    const b64 = Buffer.from(secretValue).toString("base64");
    const leaks: string[] = [];
    for (const [i, body] of bodies.entries())
      if (body.includes(secretValue) || body.includes(b64)) leaks.push(`response ${i}`);
    for (const [i, html] of pages.entries())
      if (html.includes(secretValue)) leaks.push(`page ${i}`);
    for (const b of [owner, member])
      if ((await b.page.content()).includes(secretValue)) leaks.push("an open page");
    for (const [name, text] of await audited.logs(stack))
      if (text.includes(secretValue) || text.includes(b64)) leaks.push(`the ${name} log`);
    assert.deepEqual(leaks, [], "the secret's value leaked");
  });

  it("a member asks for a denied host from the audit page, the owner approves it, and the guest reaches it live; the request names both and links the event", async () => {
    await startFrom({ allowedHosts: [hostX.address] }, "start: host X only");
    await until(
      "the guest is denied host Y",
      () => curlY("/needed"),
      (code) => code === 403,
    );

    const { page } = member;
    await visit(member, `/audit?namespace=${ns}&range=1h&host=${hostY.address}`, "member-audit");
    const row = page
      .getByTestId("egress-row")
      .filter({ has: page.getByTestId("host").getByText(hostY.address) })
      .first();
    // The worker commits the agent's event; the page's live tail shows it.
    await row.waitFor({ timeout: 30_000 });
    assert.equal(await row.getByTestId("decision").textContent(), "denied");
    await row.click();
    const details = page.getByTestId("event-details");
    await details.getByRole("button", { name: "Allow this host…" }).click();
    const form = details.getByRole("form", { name: "Allow this host" });
    await form.waitFor();
    assert.equal(await form.getByRole("button", { name: "Allow now" }).count(), 0);
    await form.getByLabel("Host").fill(hostY.address);
    await form.getByLabel("Reason (optional)").fill("the guest needs host Y for its data");
    await form.getByRole("button", { name: "Request" }).click();
    await details.getByTestId("allow-host-done").waitFor();
    await snap(member, "member-requested");
    const [request] = (
      await pool.query<{ id: string; eventId: string | null; requestedByEmail: string }>(
        `SELECT id::text AS id, "eventId"::text AS "eventId", "requestedByEmail"
           FROM policy_request WHERE namespace = $1 AND name = 'live' AND host = $2`,
        [ns, hostY.address],
      )
    ).rows;
    assert.ok(request?.eventId, "the request names the denied event");
    assert.equal(request.requestedByEmail, users.member.email);
    assert.equal(await curlY("/still-denied"), 403, "a request alone changes nothing");

    await visit(owner, "/policies/requests", "owner-requests");
    const item = owner.page.getByTestId("request").filter({ hasText: hostY.address });
    assert.ok(((await item.textContent()) ?? "").includes(users.member.email));
    await item.getByPlaceholder("Note (optional)").fill("fine for the data job");
    const approvedAt = Date.now();
    await item.getByRole("button", { name: "Approve" }).click();
    await owner.page.locator('[data-testid="request"][data-status="approved"]').waitFor();
    const reached = await until(
      "the guest reaches host Y",
      () => curlY("/after-approval"),
      (code) => code === 200,
      { timeoutMs: LIVE_WITHIN_MS },
    );
    report("approval → the guest's first request to host Y", approvedAt, reached);
    assert.ok(hostY.received.some((r) => r.url === "/after-approval"));
    await assertNoReboot();
    await snap(owner, "owner-approved");
    const decided = (await item.textContent()) ?? "";
    assert.ok(decided.includes(`Requested by ${users.member.email}`), decided);
    assert.ok(decided.includes(`Approved by ${users.owner.email}`), decided);

    // The history: the owner's approval, tied to the request.
    await visit(owner, `/policies/${ns}/live/history`, "history-approval");
    const newest = owner.page.getByTestId("version-0");
    assert.equal(await newest.getAttribute("data-action"), "approve");
    assert.equal(await newest.getByTestId("version-user").textContent(), users.owner.email);
    assert.match((await newest.textContent()) ?? "", new RegExp(`Allowed ${hostY.address}`));
    assert.ok(
      ((await newest.getByTestId("version-request").textContent()) ?? "").includes(request.id),
      "the version names the request",
    );

    // Who allowed this host, and when: the history names the requester and links the
    // request (as the requests page shows it) and the denied event, where the audit page
    // shows that one row.
    assert.equal(await newest.getByTestId("version-requester").textContent(), users.member.email);
    assert.equal(
      await newest.getByTestId("version-request-link").getAttribute("href"),
      `/policies/requests#request-${request.id}`,
    );
    const fromHistory = await newest.getByTestId("version-event-link").getAttribute("href");
    await visit(owner, "/policies/requests", "owner-requests-after");
    assert.equal(
      await item.getByRole("link", { name: "the denied event" }).getAttribute("href"),
      fromHistory,
      "the history and the requests page link the same event",
    );
    await visit(owner, `/policies/${ns}/live/history`, "history-approval-links");
    await owner.page.getByTestId("version-0").getByTestId("version-event-link").click();
    await owner.page.waitForURL(/\/audit\?/);
    await owner.page
      .getByTestId("egress-row")
      .filter({ has: owner.page.getByTestId("host").getByText(hostY.address) })
      .first()
      .waitFor();
    await owner.settle();
    const rows = await owner.page.getByTestId("egress-row").allTextContents();
    assert.equal(rows.length, 1, rows.join(" | "));
    assert.match(rows[0] ?? "", /\/needed/, "the event the member asked from");
    await snap(owner, "denied-event-from-request");
  });

  it("restoring an earlier version on the history page applies it live and shows as a new restore version", async () => {
    await startFrom({ allowedHosts: [hostX.address] }, "restore test: host X allowed");
    await startFrom({ allowedHosts: [] }, "restore test: host X removed");
    await until(
      "the guest is denied host X",
      () => curlX("/before-restore"),
      (c) => c === 403,
    );

    const { page } = owner;
    await visit(owner, `/policies/${ns}/live/history`, "history-before-restore");
    assert.equal(
      await page.getByTestId("version-0").getByTestId("version-reason").textContent(),
      "“restore test: host X removed”",
    );
    assert.equal(
      await page.getByTestId("version-1").getByTestId("version-reason").textContent(),
      "“restore test: host X allowed”",
    );
    const restoredAt = Date.now();
    await page.getByTestId("restore-1").click();
    await page.getByTestId("restored").waitFor();
    const reached = await until(
      "the guest reaches host X after the restore",
      () => curlX("/after-restore"),
      (code) => code === 200,
      { timeoutMs: LIVE_WITHIN_MS },
    );
    report("restore → the guest's first allowed request", restoredAt, reached);
    await page.locator('[data-testid="version-0"][data-action="restore"]').waitFor();
    assert.match(
      (await page.getByTestId("version-0").textContent()) ?? "",
      new RegExp(`Allowed ${hostX.address}`),
    );
    await snap(owner, "history-restored");
    await assertNoReboot();
    const hosts = JSON.parse(
      await must(["get", "sandboxpolicy", "live", "-n", ns, "-o", "jsonpath={.spec.allowedHosts}"]),
    ) as string[];
    assert.deepEqual(hosts, [hostX.address]);
  });
});
