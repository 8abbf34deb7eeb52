/**
 * The egress audit through every real part: a guest in a real VM (TCG)
 * makes requests through the node agent's egress mediation; the agent
 * spools and ships their events to Redis; the audit worker (a real
 * process) commits them to the dashboard's PostgreSQL and announces them;
 * the dashboard's live tail shows them in Chromium within seconds, with the
 * decision, the reason, the policy and the injected secret's name. The
 * query strings the guest sent and the secret's value appear nowhere: not
 * in PostgreSQL, the page, an export or any component's log. A member of
 * another team sees none of it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { kubectl, startExternalHost, uniqueName } from "@turgon/dev/testing";
import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import { type Stack, startStack } from "@turgon/operator/testing";
import type pg from "pg";
import { type AuditedDashboard, fetchExport, startAuditedDashboard } from "./audit-support.ts";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { eventually, must } from "./cluster.ts";
import { createMember, signIn, trpcQuery } from "./sandboxes-support.ts";

/** What a user waits for at most before a guest's request shows in the tail. */
const TAIL_TIMEOUT_MS = 20_000;

interface StoredRow {
  id: string;
  host: string;
  path: string;
  decision: string;
  reason: string;
  policy: string | null;
  secrets: string[];
  team: string | null;
  status: number | null;
  whole: string;
}

describe("egress audit, from a guest to the audit page", () => {
  let stack: Stack;
  let upstream: Awaited<ReturnType<typeof startExternalHost>>;
  let dashboard: TestDashboard;
  let audited: AuditedDashboard;
  let admin: BrowserSession;
  let pool: pg.Pool;
  let uid = "";
  const namespace = uniqueName("audit-vm");
  const team = uniqueName("avt");
  const outsider = {
    email: `${uniqueName("out")}@example.com`,
    password: "outsider-password-1234",
    name: "Outsider",
    team: uniqueName("other"),
  };
  // Distinct markers, so a leak of either is found wherever it lands.
  const secretValue = `secret-value-${randomBytes(8).toString("hex")}`;
  const queryMarker = `query-marker-${randomBytes(8).toString("hex")}`;
  const deniedHost = "denied.audit.example";

  const guestSh = async (script: string) => {
    const result = await stack.guestExec(uid, ["/bin/sh", "-c", script]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout.trim();
  };
  /** curl from the guest through Gondolin's proxy; the HTTP status it got. */
  const guestCurl = async (url: string, withSecret: boolean) => {
    const auth = withSecret ? `-H "Authorization: Bearer $API_TOKEN"` : "";
    return Number(
      await guestSh(
        `curl -s -o /dev/null -m 30 -x http://192.0.2.1:80 ${auth} -w '%{http_code}' '${url}'`,
      ),
    );
  };
  const storedRows = async (): Promise<StoredRow[]> => {
    const { rows } = await pool.query<StoredRow>(
      `SELECT id, host, path, decision::text, reason, policy, secrets, team, status,
              to_jsonb(e)::text AS whole
         FROM egress_event e WHERE namespace = $1 ORDER BY seq`,
      [namespace],
    );
    return rows;
  };

  before(async () => {
    stack = await startStack();
    upstream = await startExternalHost();
    await must(["create", "namespace", namespace]);
    await must(["label", "namespace", namespace, `turgon.dev/team=${team}`]);
    const objects = [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "api-token", namespace, labels: { "turgon.dev/injectable": "true" } },
        stringData: { token: secretValue },
      },
      {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "SandboxPolicy",
        metadata: { name: "audited", namespace },
        spec: {
          allowedHosts: [upstream.address],
          secrets: [
            {
              name: "API_TOKEN",
              hosts: [upstream.address],
              secretKeyRef: { name: "api-token", key: "token" },
            },
          ],
        },
      },
      {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name: "agent", namespace, labels: stack.labels },
        spec: { image: "debian-python:latest", network: { policyRef: { name: "audited" } } },
      },
    ];
    const file = join(stack.dir, "audit-egress.json");
    await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
    await must(["apply", "-f", file]);
    admin = await openBrowser("audit-egress");
    audited = await startAuditedDashboard(stack.redisUrl, admin.artifacts);
    ({ dashboard, pool } = audited);
    await createMember(dashboard, outsider);
    await must([
      "wait",
      "sandbox/agent",
      "-n",
      namespace,
      "--for=condition=Ready",
      "--timeout=240s",
    ]);
    uid = (
      await must(["get", "sandbox", "agent", "-n", namespace, "-o", "jsonpath={.metadata.uid}"])
    ).trim();
  });

  after(async () => {
    await admin?.close();
    await audited?.stop();
    await kubectl([
      "delete",
      "sandbox",
      "agent",
      "-n",
      namespace,
      "--timeout=60s",
      "--ignore-not-found",
    ]);
    await stack?.stop();
    await upstream?.stop();
    await kubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]);
  });

  it("shows the guest's allowed and denied requests in the live tail within seconds, with decision, reason, policy and the secret's name", async () => {
    const { page } = admin;
    await admin.visit(`${dashboard.url}/signin`, "signin");
    await page.getByLabel("Email address").fill(dashboard.admin.email);
    await page.getByLabel("Password").fill(dashboard.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${dashboard.url}/sandboxes`);
    await admin.visit(
      `${dashboard.url}/audit?namespace=${namespace}&range=15m`,
      "audit-before-requests",
    );
    await page.getByTestId("tail-state").waitFor();

    const started = Date.now();
    const allowed = await guestCurl(`${upstream.url}/allowed/path?token=${queryMarker}`, true);
    const denied = await guestCurl(`http://${deniedHost}/blocked?token=${queryMarker}`, false);
    assert.deepEqual(
      [allowed, denied],
      [200, 403],
      "the policy allows one host and denies the other",
    );
    const received = upstream.received.at(-1);
    assert.equal(received?.url, `/allowed/path?token=${queryMarker}`, "the upstream got the query");
    assert.equal(received?.headers.authorization, `Bearer ${secretValue}`, "and the real secret");

    const rowFor = (host: string) =>
      page.getByTestId("egress-row").filter({ has: page.getByTestId("host").getByText(host) });
    await rowFor(upstream.address).first().waitFor({ timeout: TAIL_TIMEOUT_MS });
    await rowFor(deniedHost).first().waitFor({ timeout: TAIL_TIMEOUT_MS });
    console.log(`guest requests → rows in the live tail: ${Date.now() - started} ms`);
    // The summaries follow the tail soon after, not only on their 15 s refresh.
    await page.getByTestId("top-denied").getByText(deniedHost).waitFor({ timeout: 5_000 });
    await page.getByTestId("top-allowed").getByText(upstream.address).waitFor({ timeout: 5_000 });
    await admin.snap("audit-live-rows");
    assert.equal(await rowFor(upstream.address).first().getAttribute("data-live"), "true");
    assert.equal(
      await rowFor(upstream.address).first().getByTestId("decision").textContent(),
      "allowed",
    );
    assert.match((await rowFor(upstream.address).first().textContent()) ?? "", /API_TOKEN/);
    assert.equal(await rowFor(deniedHost).first().getByTestId("decision").textContent(), "denied");

    await rowFor(deniedHost).first().click();
    const details = page.getByTestId("event-details");
    await details.waitFor();
    const text = (await details.textContent()) ?? "";
    assert.match(
      text,
      new RegExp(`host ${deniedHost.replaceAll(".", "\\.")} is not on the allowlist`),
    );
    assert.match(text, /audited/, "the policy that decided");
    assert.match(text, /\/blocked/);
    await admin.snap("audit-denied-details");
    await page.keyboard.press("Escape");

    const rows = await storedRows();
    const byHost = (host: string) => rows.find((row) => row.host === host);
    assert.deepEqual(
      [
        byHost(upstream.address)?.decision,
        byHost(upstream.address)?.path,
        byHost(upstream.address)?.secrets,
        byHost(upstream.address)?.policy,
        byHost(upstream.address)?.team,
        byHost(upstream.address)?.status,
      ],
      ["allowed", "/allowed/path", ["API_TOKEN"], "audited", team, 200],
    );
    assert.deepEqual(
      [byHost(deniedHost)?.decision, byHost(deniedHost)?.path, byHost(deniedHost)?.status],
      ["denied", "/blocked", 403],
    );
  });

  it("keeps the query string and the secret value out of PostgreSQL, the page, exports and every log", async () => {
    const leaks = (what: string, text: string) =>
      [secretValue, queryMarker]
        .filter((marker) => text.includes(marker))
        .map((m) => `${what}: ${m}`);
    const found: string[] = [];
    for (const row of await storedRows()) found.push(...leaks(`egress_event ${row.id}`, row.whole));
    const dead = await pool.query<{ whole: string }>(
      "SELECT to_jsonb(d)::text AS whole FROM audit_dead_letter d",
    );
    for (const row of dead.rows) found.push(...leaks("audit_dead_letter", row.whole));

    const { page } = admin;
    found.push(...leaks("the audit page", await page.content()));
    const cookie = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);
    for (const format of ["csv", "ndjson"]) {
      const exported = await fetchExport(
        dashboard,
        cookie,
        `kind=egress&format=${format}&namespace=${namespace}&range=1h`,
      );
      assert.equal(exported.status, 200, exported.body);
      assert.ok(exported.body.includes(upstream.address), `the ${format} export has the rows`);
      assert.ok(exported.body.includes(deniedHost));
      found.push(...leaks(`the ${format} export`, exported.body));
    }
    for (const [name, text] of await audited.logs(stack))
      found.push(...leaks(`the ${name} log`, text));
    assert.deepEqual(found, [], "a query string or secret value leaked");
  });

  it("shows a member of another team none of these events, on the page or by a direct tRPC call", async () => {
    const cookie = await signIn(dashboard.url, outsider.email, outsider.password);
    for (const filter of [{ namespace }, { team }, { host: upstream.address }]) {
      const answer = await trpcQuery(dashboard.url, cookie, "audit.list", {
        filter: { ...filter, range: "1h" },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.error));
      assert.deepEqual((answer.data as { rows: unknown[] }).rows, [], JSON.stringify(filter));
    }
    await eventually(
      "the worker stored both events",
      async () => (await storedRows()).length,
      (count) => count >= 2,
      5_000,
    );
  });
});
