/**
 * From denial to approval through the whole dashboard (the real build on
 * the test platform's PostgreSQL, Redis and API server; audit rows
 * committed as the worker does; no VM): a member asks to allow a denied
 * host from the audit page, cannot approve it through a direct tRPC call
 * (RBAC refuses as them), the team's owner approves it on the requests
 * page (the SandboxPolicy gains the host, the change names the owner and
 * the request, the request names both people), and the audit row then says
 * who allowed the host and when. The sandbox's Network tab shows the
 * effective policy with each rule's origin, and for a policy in report mode
 * the would-deny hosts, one of which the owner adds.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { installCrds, kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import pg from "pg";
import { type AuditSource, committedRows } from "./audit-support.ts";
import { ARTIFACTS_DIR, type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { eventually } from "./cluster.ts";
import {
  addTeamUser,
  apply,
  bindNamespace,
  createMember,
  must,
  signIn,
  trpcMutation,
  trpcQuery,
} from "./sandboxes-support.ts";

const MIN = 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);

async function browserSignIn(
  dashboard: TestDashboard,
  name: string,
  user: { email: string; password: string },
): Promise<BrowserSession> {
  const browser = await openBrowser(name);
  await browser.visit(`${dashboard.url}/signin`, "signin");
  await browser.page.getByLabel("Email address").fill(user.email);
  await browser.page.getByLabel("Password").fill(user.password);
  await browser.page.getByRole("button", { name: "Sign in" }).click();
  await browser.page.waitForURL(/\/sandboxes/);
  return browser;
}

const allowedHostsOf = async (namespace: string, name: string) =>
  JSON.parse(
    await must([
      "get",
      "sandboxpolicy",
      name,
      "-n",
      namespace,
      "-o",
      "jsonpath={.spec.allowedHosts}",
    ]),
  ) as string[];

describe("policy requests, from denial to approval", () => {
  let dashboard: TestDashboard;
  let pool: pg.Pool;
  let source: AuditSource;
  let memberBrowser: BrowserSession | undefined;
  let ownerBrowser: BrowserSession | undefined;
  const team = "preq-team";
  const ns = uniqueName("preq");
  const member = {
    email: "mia@example.com",
    password: "mia-password-123456",
    name: "Mia",
    team,
  };
  const owner = {
    email: "olga@example.com",
    password: "olga-password-12345",
    name: "Olga",
    team,
    role: "owner" as const,
  };
  const outsider = {
    email: "otto@example.com",
    password: "otto-password-123456",
    name: "Otto",
    team: "preq-other",
  };
  const denied = {
    id: randomUUID(),
    time: ago(3 * MIN),
    namespace: ns,
    sandbox: "web",
    team,
    host: "evil.example.com",
    decision: "denied" as const,
    policy: "web-policy",
    method: "POST",
    path: "/upload",
  };
  const url = (path: string) => `${dashboard.url}${path}`;

  before(async () => {
    await installCrds();
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    dashboard = await startTestDashboard({
      logFile: join(ARTIFACTS_DIR, "policy-requests-dashboard.log"),
    });
    pool = new pg.Pool({ connectionString: dashboard.databaseUrl, max: 3 });
    source = committedRows(dashboard, pool);
    await createMember(dashboard, member);
    await createMember(dashboard, outsider);
    await addTeamUser(dashboard, owner);
    await must(["create", "namespace", ns]);
    await bindNamespace(ns, team);
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "web-policy", namespace: ns },
      spec: { allowedHosts: ["api.github.com"] },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "report-policy", namespace: ns },
      spec: { mode: "report", allowedHosts: ["pypi.org"] },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "web", namespace: ns },
      spec: {
        image: "debian-python:latest",
        network: { policyRef: { name: "web-policy" }, websockets: true },
      },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "trial", namespace: ns },
      spec: { image: "debian-python:latest", network: { policyRef: { name: "report-policy" } } },
    });
    const wouldDeny = (host: string, minutes: number, sandbox = "trial") => ({
      time: ago(minutes * MIN),
      namespace: ns,
      sandbox,
      team,
      host,
      decision: "would-deny" as const,
      policy: "report-policy",
      reason: "report mode: host not in allowedHosts",
    });
    await source.emit([
      denied,
      { ...denied, id: randomUUID(), time: ago(2 * MIN), host: "files.example.net", path: "/" },
      wouldDeny("tracker.example.com", 10),
      wouldDeny("tracker.example.com", 5),
      wouldDeny("cdn.example.org", 4),
    ]);
  });
  after(async () => {
    await memberBrowser?.close();
    await ownerBrowser?.close();
    await pool?.end();
    await kubectl(["delete", "namespace", ns, "--wait=false"]);
    await dashboard?.stop();
  });

  it("a member requests from the denied row, cannot approve it, and the owner approves it", async () => {
    memberBrowser = await browserSignIn(dashboard, "policy-requests-member", member);
    const { page } = memberBrowser;
    await memberBrowser.visit(url("/audit?range=1h&host=evil.example.com"), "member-audit");
    await page.getByTestId("egress-row").filter({ hasText: "evil.example.com" }).click();
    const details = page.getByTestId("event-details");
    await details.getByRole("button", { name: "Allow this host…" }).click();
    const form = details.getByRole("form", { name: "Allow this host" });
    await form.waitFor();
    assert.match((await form.textContent()) ?? "", /SandboxPolicy web-policy/);
    // Members only request: no "Allow now".
    assert.equal(await form.getByRole("button", { name: "Allow now" }).count(), 0);
    await form.getByLabel("Host").fill("*.other.org");
    await form.getByRole("button", { name: "Request" }).click();
    await form.locator('[data-field-error="allow-host"]').waitFor();
    await memberBrowser.snap("member-bad-host");
    await form.getByLabel("Host").fill("evil.example.com");
    await form.getByLabel("Reason (optional)").fill("the upload service moved here");
    await form.getByRole("button", { name: "Request" }).click();
    await details.getByTestId("allow-host-done").waitFor();
    await details.getByTestId("event-requests").getByText("pending").waitFor();
    await memberBrowser.snap("member-requested");

    const [request] = (
      await pool.query<{ id: string; status: string; kind: string; name: string }>(
        `SELECT id::text AS id, status, kind, name FROM policy_request WHERE host = $1`,
        ["evil.example.com"],
      )
    ).rows;
    assert.deepEqual(
      { status: request?.status, kind: request?.kind, name: request?.name },
      { status: "pending", kind: "SandboxPolicy", name: "web-policy" },
    );
    // A direct call as the member: Kubernetes RBAC refuses the change as them.
    const memberCookie = await signIn(dashboard.url, member.email, member.password);
    const refused = await trpcMutation(dashboard.url, memberCookie, "policyRequests.approve", {
      id: request?.id,
    });
    assert.equal(refused.error?.code, "FORBIDDEN", JSON.stringify(refused.error));
    assert.ok(!(await allowedHostsOf(ns, "web-policy")).includes("evil.example.com"));
    // Deduped: asking again returns the pending request.
    const again = await trpcMutation(dashboard.url, memberCookie, "policyRequests.create", {
      eventId: denied.id,
      eventTime: denied.time.toISOString(),
    });
    assert.equal((again.data as { duplicate: boolean }).duplicate, true);

    ownerBrowser = await browserSignIn(dashboard, "policy-requests-owner", owner);
    const owned = ownerBrowser.page;
    await ownerBrowser.visit(url("/policies/requests"), "owner-requests");
    const item = owned.getByTestId("request").filter({ hasText: "evil.example.com" });
    assert.match((await item.textContent()) ?? "", /mia@example\.com/);
    assert.match((await item.textContent()) ?? "", /the upload service moved here/);
    await item.getByPlaceholder("Note (optional)").fill("ok for the upload service");
    await item.getByRole("button", { name: "Approve" }).click();
    await owned.locator('[data-testid="request"][data-status="approved"]').waitFor();
    await ownerBrowser.snap("owner-approved");
    const decided = (await item.textContent()) ?? "";
    assert.match(decided, /Requested by mia@example\.com/);
    assert.match(decided, /Approved by olga@example\.com/);
    assert.ok((await allowedHostsOf(ns, "web-policy")).includes("evil.example.com"));
    const { rows: changes } = await pool.query<{
      userEmail: string;
      action: string;
      requestId: string;
    }>(
      `SELECT "userEmail", action, "requestId"::text AS "requestId" FROM policy_change
       WHERE namespace = $1 AND name = 'web-policy'`,
      [ns],
    );
    assert.deepEqual(changes, [
      { userEmail: owner.email, action: "approve", requestId: request?.id },
    ]);
    // Decided twice: CONFLICT.
    const ownerCookie = await signIn(dashboard.url, owner.email, owner.password);
    const twice = await trpcMutation(dashboard.url, ownerCookie, "policyRequests.reject", {
      id: request?.id,
    });
    assert.equal(twice.error?.code, "CONFLICT");
  });

  it("gives another team's member nothing: no request, list, rollout or effective policy", async () => {
    const cookie = await signIn(dashboard.url, outsider.email, outsider.password);
    const create = await trpcMutation(dashboard.url, cookie, "policyRequests.create", {
      eventId: denied.id,
      eventTime: denied.time.toISOString(),
    });
    assert.equal(create.error?.code, "NOT_FOUND");
    const list = await trpcQuery(dashboard.url, cookie, "policyRequests.list", { status: "all" });
    assert.deepEqual(list.data, []);
    const rollout = await trpcQuery(dashboard.url, cookie, "policyRequests.rollout", {
      namespace: ns,
      policy: "report-policy",
    });
    assert.deepEqual(rollout.data, []);
    const effective = await trpcQuery(dashboard.url, cookie, "sandboxNetwork.effective", {
      namespace: ns,
      name: "web",
    });
    assert.equal(effective.error?.code, "FORBIDDEN", JSON.stringify(effective.error));
  });

  it("the audit row says who allowed the host and when, and links to the request", async () => {
    assert.ok(memberBrowser);
    const { page } = memberBrowser;
    await memberBrowser.visit(url("/audit?range=1h&host=evil.example.com"), "member-audit-after");
    await page.getByTestId("egress-row").filter({ hasText: "evil.example.com" }).click();
    const allowedBy = page.getByTestId("event-details").getByTestId("allowed-by");
    await allowedBy.waitFor();
    const text = (await allowedBy.textContent()) ?? "";
    assert.match(text, /Allowed by olga@example\.com at /);
    assert.match(text, /evil\.example\.com/);
    await memberBrowser.snap("member-allowed-by");
    await allowedBy.getByRole("link", { name: "the request" }).click();
    await page.waitForURL(/\/policies\/requests/);
    await page.getByTestId("request").filter({ hasText: "Approved by olga@example.com" }).waitFor();
    await memberBrowser.settle();
    await memberBrowser.snap("member-request-history");
    // The request links back to its denied event.
    await page
      .getByTestId("request")
      .filter({ hasText: "Approved by olga@example.com" })
      .getByRole("link", { name: "the denied event" })
      .click();
    await page.waitForURL(/\/audit\?.*sandbox=web/);
    await page.getByTestId("egress-row").filter({ hasText: "evil.example.com" }).waitFor();
    assert.equal(await page.getByTestId("egress-row").count(), 1);
    await memberBrowser.settle();
    await memberBrowser.snap("member-denied-event");
  });

  it("the owner allows a host now from the audit row, recorded as an approved request", async () => {
    assert.ok(ownerBrowser);
    const { page } = ownerBrowser;
    await ownerBrowser.visit(url("/audit?range=1h&host=files.example.net"), "owner-audit");
    await page.getByTestId("egress-row").filter({ hasText: "files.example.net" }).click();
    const details = page.getByTestId("event-details");
    await details.getByRole("button", { name: "Allow this host…" }).click();
    const form = details.getByRole("form", { name: "Allow this host" });
    await form.getByRole("button", { name: "*.example.net" }).click();
    assert.equal(await form.getByLabel("Host").inputValue(), "*.example.net");
    await ownerBrowser.snap("owner-allow-form");
    await form.getByRole("button", { name: "Allow now" }).click();
    await details.getByTestId("allow-host-done").waitFor();
    await details
      .getByTestId("allowed-by")
      .getByText(/Allowed by olga@example\.com/)
      .waitFor();
    await ownerBrowser.snap("owner-allowed-now");
    assert.ok((await allowedHostsOf(ns, "web-policy")).includes("*.example.net"));
    const { rows } = await pool.query<{ status: string; requestedByEmail: string }>(
      `SELECT status, "requestedByEmail" FROM policy_request WHERE host = '*.example.net'`,
    );
    assert.deepEqual(rows, [{ status: "approved", requestedByEmail: owner.email }]);
  });

  it("the Network tab shows the effective policy with each rule's origin", async () => {
    assert.ok(ownerBrowser);
    const { page } = ownerBrowser;
    await ownerBrowser.visit(url(`/sandboxes/${ns}/web?tab=network`), "network-tab");
    const card = page.getByTestId("effective-policy");
    await card.waitFor();
    const origin = async (field: string) =>
      card.locator(`[data-rule="${field}"] [data-origin]`).getAttribute("data-origin");
    assert.equal(await origin("allowedHosts"), "policy");
    assert.equal(await origin("websockets"), "inline");
    assert.equal(await origin("deniedCIDRs"), "default");
    const hosts = (await card.locator('[data-rule="allowedHosts"]').textContent()) ?? "";
    assert.match(hosts, /api\.github\.com/);
    assert.match(hosts, /evil\.example\.com/);
    assert.equal(await page.getByTestId("report-mode-rollout").count(), 0);
  });

  it("in report mode, the rollout lists the would-deny hosts and the owner adds one", async () => {
    assert.ok(ownerBrowser);
    const { page } = ownerBrowser;
    await ownerBrowser.visit(url(`/sandboxes/${ns}/trial?tab=network`), "report-mode-tab");
    const rollout = page.getByTestId("report-mode-rollout");
    await rollout.getByTestId("rollout-host").first().waitFor();
    const rows = await rollout.getByTestId("rollout-host").allTextContents();
    assert.equal(rows.length, 2, rows.join(" | "));
    assert.match(rows[0] ?? "", /^tracker\.example\.com2/);
    assert.match(rows[1] ?? "", /^cdn\.example\.org1/);
    await ownerBrowser.snap("report-mode-rollout");
    await rollout
      .getByTestId("rollout-host")
      .filter({ hasText: "tracker.example.com" })
      .getByRole("button", { name: "Add" })
      .click();
    await rollout.getByText("added").waitFor();
    await eventually(
      "the host in the report policy",
      () => allowedHostsOf(ns, "report-policy"),
      (hosts) => hosts.includes("tracker.example.com"),
    );
    await ownerBrowser.snap("report-mode-added");
    // A member of the team sees the same hosts, and requests rather than adds.
    const memberCookie = await signIn(dashboard.url, member.email, member.password);
    const forMember = await trpcQuery(dashboard.url, memberCookie, "policyRequests.rollout", {
      namespace: ns,
      policy: "report-policy",
    });
    assert.equal((forMember.data as unknown[]).length, 2);
  });
});
