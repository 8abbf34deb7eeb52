/**
 * The sandbox dashboard through the whole stack: a real node agent,
 * operator and router (startStack), one real VM at a time under TCG, the
 * dashboard's production build on the real API server and PostgreSQL, and
 * Chromium. The admin watches a kubectl-made Sandbox appear and go Running
 * without a reload, reads it, deletes it (confirmed), and makes another
 * through the form; a member of one team is refused another team's
 * sandbox by Kubernetes RBAC through impersonation; clients that bypass
 * the browser get the API server's own answers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AuthorizationV1Api } from "@kubernetes/client-node";
import { kubectl, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { type Stack, startStack } from "@turgon/operator/testing";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import {
  apply,
  bindNamespace,
  createMember,
  must,
  openSse,
  signIn,
  trpcMutation,
  trpcQuery,
  WEB_RBAC,
} from "./sandboxes-support.ts";

const VM_TIMEOUT_MS = 240_000;

describe("sandbox dashboard through the whole stack", () => {
  let stack: Stack;
  let dashboard: TestDashboard;
  let browser: BrowserSession;
  let adminCookie: string;
  let memberCookie: string;
  /** The admin's namespace, where the VMs run (bound to a team of its own). */
  const namespace = uniqueName("sbx");
  const teamA = uniqueName("ta");
  const teamB = uniqueName("tb");
  const nsA = uniqueName("na");
  const nsB = uniqueName("nb");
  const member = {
    email: `${uniqueName("member")}@example.com`,
    password: "member-password-long-enough",
    name: "Mia Member",
    team: teamA,
  };

  const url = (path: string) => `${dashboard.url}${path}`;
  /** The stack's node agent's SandboxNode, as its "started" log line names it. */
  const nodeName = () => {
    const node = stack.agent.ready.node;
    assert.equal(typeof node, "string", JSON.stringify(stack.agent.ready));
    return node as string;
  };
  const row = (ns: string, name: string) => browser.page.locator(`tr[data-key="${ns}/${name}"]`);
  const phaseOf = (ns: string, name: string) => row(ns, name).getByTestId("phase");
  const sandboxExists = async (ns: string, name: string) =>
    (await kubectl(["get", "sandbox", name, "-n", ns, "-o", "name"])).exitCode === 0;
  /** Waits until the page's live updates are connected (the SSE subscription). */
  const live = () =>
    browser.page.locator('[data-testid="live-status"][data-status="pending"]').waitFor();
  /** A screenshot from the top of the page (a focused field lower down scrolls it). */
  const snapTop = async (name: string) => {
    await browser.page.evaluate(() =>
      (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0),
    );
    await browser.snap(name);
  };
  /** Opens a page with a live subscription (networkidle never comes while SSE is open). */
  const open = async (path: string, name: string) => {
    await browser.page.goto(url(path), { waitUntil: "load" });
    await live();
    await browser.snap(name);
  };

  before(async () => {
    browser = await openBrowser("sandboxes");
    stack = await startStack();
    await must(["apply", "-f", WEB_RBAC]);
    // Terminals open at this stack's router, signed with its key.
    dashboard = await startTestDashboard({
      logFile: join(browser.artifacts, "dashboard.log"),
      routerUrl: `http://127.0.0.1:${stack.routerPort}`,
      edgeConfig: stack.edge.ref,
      ingressTokenSecret: "turgon-system/turgon-ingress-keys",
    });
    for (const ns of [namespace, nsA, nsB]) await must(["create", "namespace", ns]);
    await bindNamespace(namespace, uniqueName("tv"));
    await bindNamespace(nsA, teamA);
    await bindNamespace(nsB, teamB);
    await createMember(dashboard, member);
    adminCookie = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);
    memberCookie = await signIn(dashboard.url, member.email, member.password);
    // What the form offers in the admin's namespace: a template and a policy.
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxTemplate",
      metadata: { name: "python-web", namespace },
      spec: {
        image: "debian-python:latest",
        command: [
          "/bin/sh",
          "-c",
          "mkdir -p /srv/www && echo from-the-form > /srv/www/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/www",
        ],
      },
    });
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxPolicy",
      metadata: { name: "no-egress", namespace },
      spec: { allowedHosts: [] },
    });
  });

  after(async () => {
    await browser?.close();
    await dashboard?.stop();
    await stack?.stop();
    for (const ns of [namespace, nsA, nsB])
      await kubectl(["delete", "namespace", ns, "--wait=false"]);
  });

  it("answers tRPC calls without a session with 401", async () => {
    for (const [path, input] of [
      ["sandboxes.list", undefined],
      ["sandboxes.get", { namespace, name: "web" }],
      ["nodes.list", undefined],
    ] as const) {
      const answer = await trpcQuery(dashboard.url, undefined, path, input);
      assert.equal(answer.status, 401, path);
      assert.equal(answer.error?.code, "UNAUTHORIZED", path);
    }
    const deleted = await trpcMutation(dashboard.url, undefined, "sandboxes.delete", {
      namespace,
      name: "web",
    });
    assert.equal(deleted.status, 401);
  });

  it("a Sandbox made with kubectl appears in the list without a reload and goes Running live", async () => {
    const { page } = browser;
    await page.goto(url("/signin?return=%2Fsandboxes"));
    await page.getByLabel("Email address").fill(dashboard.admin.email);
    await page.getByLabel("Password").fill(dashboard.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url("/sandboxes"));
    await open(`/sandboxes?namespace=${namespace}`, "list-before");
    assert.equal(await row(namespace, "web").count(), 0);
    // A mark in the page itself: a reload or navigation would lose it.
    await page.evaluate(() => {
      (globalThis as { sameDocument?: boolean }).sameDocument = true;
    });

    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "web", namespace, labels: stack.labels },
      spec: {
        image: "debian-python:latest",
        command: [
          "/bin/sh",
          "-c",
          "mkdir -p /srv/site && echo hello > /srv/site/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site",
        ],
        ingress: { enabled: true, access: "private", routes: [{ prefix: "/", port: 8000 }] },
        ssh: { enabled: true },
      },
    });
    await row(namespace, "web").waitFor();
    const first = await phaseOf(namespace, "web").getAttribute("data-phase");
    assert.ok(first !== "Running", `a VM cannot be Running this soon (saw ${first})`);
    await browser.snap("list-appeared");

    await page
      .locator(`tr[data-key="${namespace}/web"] [data-testid="phase"][data-phase="Running"]`)
      .waitFor({ timeout: VM_TIMEOUT_MS });
    await browser.snap("list-running");
    assert.equal(
      await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument),
      true,
      "the page was not reloaded",
    );
    assert.equal(await row(namespace, "web").getByTestId("node").textContent(), nodeName());
    assert.match(
      (await row(namespace, "web").getByTestId("url").getAttribute("href")) ?? "",
      new RegExp(`^http://web--${namespace}\\.localhost:${stack.routerPort}/$`),
    );

    // Filters live in the URL query, and apply to the live rows.
    await page.getByLabel("Phase").selectOption("Failed");
    await page.getByText("No sandboxes match these filters").waitFor();
    assert.equal(new URL(page.url()).searchParams.get("phase"), "Failed");
    await page.getByLabel("Phase").selectOption("Running");
    await row(namespace, "web").waitFor();
    await page.getByLabel("Search by name").fill("we");
    await row(namespace, "web").waitFor();
    const query = new URL(page.url()).searchParams;
    assert.deepEqual(
      [query.get("namespace"), query.get("phase"), query.get("q")],
      [namespace, "Running", "we"],
    );
    await browser.snap("list-filtered");
  });

  it("the sandbox page shows its conditions, events, URL, routes, SSH command and node", async () => {
    const { page } = browser;
    await row(namespace, "web").getByRole("link", { name: "web", exact: true }).click();
    await page.waitForURL(url(`/sandboxes/${namespace}/web`));
    await live();
    const condition = (type: string) =>
      page.locator(`[data-testid="condition"][data-type="${type}"]`);
    // Ready follows the guest app: it may still be coming up, so wait for it on the page.
    await condition("Ready").getByText("True", { exact: true }).waitFor({ timeout: 120_000 });
    assert.match((await condition("Scheduled").textContent()) ?? "", /True/);
    await page.getByTestId("event").filter({ hasText: "Scheduled" }).first().waitFor();
    await page.getByTestId("event").filter({ hasText: "Ready" }).first().waitFor();
    assert.equal(
      await page.getByTestId("sandbox-url").getAttribute("href"),
      `http://web--${namespace}.localhost:${stack.routerPort}/`,
    );
    assert.match((await page.getByTestId("routes").textContent()) ?? "", /\/.*8000/);
    assert.match(
      (await page.getByTestId("ssh-command").textContent()) ?? "",
      new RegExp(`^ssh (-p \\d+ )?web\\.${namespace}@`),
    );
    assert.match((await page.getByTestId("policy").textContent()) ?? "", /default-deny/);
    await browser.snap("detail");
    await page.getByRole("tab", { name: "Terminal" }).click();
    // The tab holds the web terminal (its own journeys are in terminal.test.ts): a shell opens.
    await page.locator('[data-testid="terminal"][data-state="open"]').waitFor({ timeout: 30_000 });
    assert.equal(new URL(page.url()).searchParams.get("tab"), "terminal");
    await browser.snap("detail-terminal-tab");
    await page.getByRole("tab", { name: "Overview" }).click();
  });

  it("the nodes page shows the stack's node Ready, its accelerator and the sandbox on it", async () => {
    const { page } = browser;
    await open("/nodes", "nodes");
    const nodeRow = page.locator(`[data-testid="node-row"][data-name="${nodeName()}"]`);
    await nodeRow.waitFor();
    assert.equal(await nodeRow.getByTestId("node-ready").textContent(), "Ready");
    assert.match((await nodeRow.textContent()) ?? "", /tcg|kvm/);
    await nodeRow.getByTestId("node-sandboxes").getByText("1", { exact: true }).waitFor();
  });

  it("delete asks first; confirmed, the row goes away live", async () => {
    const { page } = browser;
    await open(`/sandboxes?namespace=${namespace}`, "list-before-delete");
    await row(namespace, "web")
      .getByRole("button", { name: `Delete ${namespace}/web` })
      .click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? "", /Delete sandbox web\?/);
    await browser.snap("delete-dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    assert.ok(await sandboxExists(namespace, "web"), "cancel deletes nothing");

    // Every phase the row shows from now on, recorded in the page as React draws it.
    await page.evaluate((key) => {
      const dom = globalThis as unknown as {
        document: {
          querySelector(s: string): { getAttribute(n: string): string | null } | null;
          body: unknown;
        };
        MutationObserver: new (cb: () => void) => { observe(t: unknown, o: object): void };
        phasesSeen: string[];
      };
      dom.phasesSeen = [];
      const look = () => {
        const phase = dom.document
          .querySelector(`tr[data-key="${key}"] [data-testid="phase"]`)
          ?.getAttribute("data-phase");
        if (phase && dom.phasesSeen.at(-1) !== phase) dom.phasesSeen.push(phase);
      };
      look();
      new dom.MutationObserver(look).observe(dom.document.body, {
        subtree: true,
        childList: true,
        attributes: true,
      });
    }, `${namespace}/web`);
    await row(namespace, "web")
      .getByRole("button", { name: `Delete ${namespace}/web` })
      .click();
    await dialog.getByRole("button", { name: "Delete sandbox" }).click();
    await dialog.waitFor({ state: "hidden" });
    await row(namespace, "web").waitFor({ state: "detached", timeout: 120_000 });
    await browser.snap("list-deleted");
    assert.equal(await sandboxExists(namespace, "web"), false);
    // The VM is stopped first (the operator's finalizer): the row said so before it went.
    assert.deepEqual(
      await page.evaluate(() => (globalThis as unknown as { phasesSeen: string[] }).phasesSeen),
      ["Running", "Terminating"],
    );
  });

  it("the form refuses a bad route prefix next to its field, and an existing name with the API server's words", async () => {
    const { page } = browser;
    await apply({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "taken", namespace },
      spec: { image: "debian-python:latest" },
    });
    await page.goto(url(`/sandboxes/new?namespace=${namespace}`), { waitUntil: "load" });
    await page.getByLabel("Name", { exact: true }).fill("form");
    await page.getByLabel("A template").check();
    // Templates are listed as the user once the namespace is known.
    const template = page.getByLabel("Template", { exact: true });
    await template.locator('option[value="python-web"]').waitFor({ state: "attached" });
    await template.selectOption("python-web");
    await page.getByLabel("Route 1 prefix").fill("api");
    await page.getByRole("button", { name: "Create sandbox" }).click();
    const prefixError = page.locator(
      '[data-testid="field-error"][data-field="spec.ingress.routes[0].prefix"]',
    );
    await prefixError.waitFor();
    assert.match((await prefixError.textContent()) ?? "", /must start with '\/'/);
    assert.equal(
      await page.getByLabel("Route 1 prefix").getAttribute("aria-invalid"),
      "true",
      "the field itself is marked",
    );
    await snapTop("form-bad-prefix");
    assert.equal(new URL(page.url()).pathname, "/sandboxes/new");
    assert.equal(await sandboxExists(namespace, "form"), false, "nothing was sent");

    // Past the browser's checks, the API server refuses a name in use: shown at the name.
    await page.getByLabel("Route 1 prefix").fill("/");
    await page.getByLabel("Name", { exact: true }).fill("taken");
    await page.getByRole("button", { name: "Create sandbox" }).click();
    const nameError = page.locator('[data-testid="field-error"][data-field="metadata.name"]');
    await nameError.waitFor();
    assert.match((await nameError.textContent()) ?? "", /"taken" already exists/);
    await snapTop("form-name-taken");
  });

  it("a good form makes a Sandbox from the template that reaches Running, shown live", async () => {
    const { page } = browser;
    await page.getByLabel("Name", { exact: true }).fill("form");
    // The API server's complaint was about the name alone: fixed, it is gone.
    await page.getByTestId("form-summary").waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Name 1", { exact: true }).fill("GREETING");
    await page.getByLabel("Value 1", { exact: true }).fill("hello");
    await page.getByLabel("Access", { exact: true }).selectOption("authenticated");
    const policy = page.getByLabel("Egress policy", { exact: true });
    await policy.locator('option[value="no-egress"]').waitFor({ state: "attached" });
    await policy.selectOption("no-egress");
    // The stack's operator only takes sandboxes with its run's label.
    const [labelKey, labelValue] = Object.entries(stack.labels)[0] as [string, string];
    await page.getByRole("button", { name: "Add label" }).click();
    await page.getByLabel("Key 1", { exact: true }).fill(labelKey);
    await page.getByLabel("Label value 1", { exact: true }).fill(labelValue);
    await snapTop("form-filled");
    await page.getByRole("button", { name: "Create sandbox" }).click();
    await page.waitForURL(url(`/sandboxes/${namespace}/form`));
    await live();
    await browser.snap("form-created");
    const created = JSON.parse(
      await must(["get", "sandbox", "form", "-n", namespace, "-o", "json"]),
    ) as { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
    assert.deepEqual(created.spec.templateRef, { name: "python-web" });
    assert.deepEqual(created.spec.env, [{ name: "GREETING", value: "hello" }]);
    assert.deepEqual(created.spec.network, { policyRef: { name: "no-egress" } });
    assert.deepEqual((created.spec.ingress as { routes: unknown }).routes, [
      { prefix: "/", port: 8000, stripPrefix: true },
    ]);
    assert.equal(created.metadata.labels[labelKey], labelValue);

    await page
      .locator('header [data-testid="phase"][data-phase="Running"]')
      .waitFor({ timeout: VM_TIMEOUT_MS });
    await browser.snap("form-running");
    assert.match((await page.getByTestId("policy").textContent()) ?? "", /no-egress/);
    assert.match((await page.getByTestId("access").textContent()) ?? "", /Authenticated/);
  });

  it("suspend and resume patch spec.operatingMode as the user, and the phase follows live", async () => {
    const { page } = browser;
    await page.getByRole("button", { name: "Suspend" }).click();
    await page
      .locator('header [data-testid="phase"][data-phase="Suspended"]')
      .waitFor({ timeout: VM_TIMEOUT_MS });
    await browser.snap("suspended");
    assert.equal(
      (
        await must([
          "get",
          "sandbox",
          "form",
          "-n",
          namespace,
          "-o",
          "jsonpath={.spec.operatingMode}",
        ])
      ).trim(),
      "Suspended",
    );
    await page.getByRole("button", { name: "Resume" }).click();
    await page
      .locator('header [data-testid="phase"][data-phase="Running"]')
      .waitFor({ timeout: VM_TIMEOUT_MS });
    await browser.snap("resumed");
  });

  it("a client that bypasses the form gets the API server's own validation errors, by field", async () => {
    const create = (metadataName: string, spec: unknown) =>
      trpcMutation(dashboard.url, adminCookie, "sandboxes.create", {
        namespace,
        metadata: { name: metadataName },
        spec,
      });
    const badPrefix = await create("bypass", {
      image: "debian-python:latest",
      ingress: { enabled: true, routes: [{ prefix: "api", port: 8000 }] },
    });
    assert.equal(badPrefix.status, 400);
    assert.equal(badPrefix.error?.code, "BAD_REQUEST");
    // The API server's message (CRD OpenAPI schema), and its cause by field.
    assert.match(badPrefix.error?.message ?? "", /Sandbox\.turgon\.dev "bypass" is invalid/);
    const prefixErrors = badPrefix.error?.zodError?.fieldErrors["spec.ingress.routes[0].prefix"];
    assert.ok(prefixErrors?.length, JSON.stringify(badPrefix.error));
    assert.match(prefixErrors?.[0] ?? "", /should match/);

    // A CEL rule (image or templateRef), and one on the name ('--' would collide in host names).
    const neither = await create("bypass", {});
    assert.equal(neither.status, 400);
    const celMessages = Object.values(neither.error?.zodError?.fieldErrors ?? {}).flat();
    assert.ok(
      celMessages.some((m) => /spec\.image or spec\.templateRef is required/.test(m)),
      JSON.stringify(neither.error),
    );
    const dashes = await create("by--pass", { image: "debian-python:latest" });
    assert.equal(dashes.status, 400);
    assert.match(dashes.error?.message ?? "", /must not contain '--'/);
    assert.equal(await sandboxExists(namespace, "bypass"), false);
    assert.equal(await sandboxExists(namespace, "by--pass"), false);

    // The input's shape is checked here, naming the field.
    const noNamespace = await trpcMutation(dashboard.url, adminCookie, "sandboxes.create", {
      metadata: { name: "x" },
      spec: {},
    });
    assert.equal(noNamespace.status, 400);
    assert.ok(noNamespace.error?.zodError?.fieldErrors.namespace?.length);
  });

  it("a member sees only their team's sandboxes; Kubernetes RBAC refuses them another team's, and a SubjectAccessReview agrees", async () => {
    // The member's live list (informers, filtered to their teams' namespaces) from now on.
    const stream = await openSse(dashboard.url, memberCookie, "sandboxes.watch", {});
    // The other team's first: had the member been sent it, it would come before their own.
    for (const [name, ns] of [
      ["theirs", nsB],
      ["mine", nsA],
    ] as const)
      await apply({
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name, namespace: ns },
        spec: { image: "debian-python:latest" },
      });
    const sent: string[] = [];
    while (!sent.includes(`upsert ${nsA}/mine`)) {
      const event = await stream.next();
      if (event.event) continue; // connected, ping
      const data = (JSON.parse(event.data) as { json: { type: string; row?: { key: string } } })
        .json;
      sent.push(`${data.type}${data.row ? ` ${data.row.key}` : ""}`);
    }
    stream.close();
    assert.ok(!sent.some((e) => e.includes(nsB)), `the member was sent ${sent.join(", ")}`);
    const listed = await trpcQuery(dashboard.url, memberCookie, "sandboxes.list");
    const keys = (listed.data as { rows: { key: string }[] }).rows.map((r) => r.key);
    assert.deepEqual(
      keys.filter((k) => [nsA, nsB, namespace].includes(k.split("/")[0] as string)),
      [`${nsA}/mine`],
    );
    const adminKeys = (
      (await trpcQuery(dashboard.url, adminCookie, "sandboxes.list")).data as {
        rows: { key: string }[];
      }
    ).rows.map((r) => r.key);
    assert.ok(adminKeys.includes(`${nsB}/theirs`), "the admin sees every team's");

    // One object, read as the member: their own is theirs to read; the other team's is refused.
    const own = await trpcQuery(dashboard.url, memberCookie, "sandboxes.get", {
      namespace: nsA,
      name: "mine",
    });
    assert.equal(own.status, 200, JSON.stringify(own.error));
    const refusedRead = await trpcQuery(dashboard.url, memberCookie, "sandboxes.get", {
      namespace: nsB,
      name: "theirs",
    });
    assert.equal(refusedRead.status, 403);
    assert.equal(refusedRead.error?.code, "FORBIDDEN");
    assert.equal(
      refusedRead.error?.message,
      `sandboxes.turgon.dev "theirs" is forbidden: User "${member.email}" cannot get resource "sandboxes" in API group "turgon.dev" in the namespace "${nsB}"`,
    );
    const refusedDelete = await trpcMutation(dashboard.url, memberCookie, "sandboxes.delete", {
      namespace: nsB,
      name: "theirs",
    });
    assert.equal(refusedDelete.status, 403);
    assert.equal(
      refusedDelete.error?.message,
      `sandboxes.turgon.dev "theirs" is forbidden: User "${member.email}" cannot delete resource "sandboxes" in API group "turgon.dev" in the namespace "${nsB}"`,
    );
    assert.ok(await sandboxExists(nsB, "theirs"), "still there");

    // The API server's authorizer says the same for that user and groups.
    const authorization = testKubeConfig().makeApiClient(AuthorizationV1Api);
    const review = async (ns: string, verb: string) =>
      (
        await authorization.createSubjectAccessReview({
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: {
              user: member.email,
              groups: [`turgon:team:${teamA}`],
              resourceAttributes: {
                group: "turgon.dev",
                resource: "sandboxes",
                namespace: ns,
                verb,
                name: ns === nsB ? "theirs" : "mine",
              },
            },
          },
        })
      ).status;
    for (const verb of ["get", "delete"]) {
      assert.equal((await review(nsB, verb))?.allowed, false, `${verb} in ${nsB}`);
      assert.equal((await review(nsA, verb))?.allowed, true, `${verb} in ${nsA}`);
    }

    // And in the browser, as the member: the refusal in Kubernetes' words.
    const { page } = browser;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((u) => u.pathname === "/signin");
    await page.getByLabel("Email address").fill(member.email);
    await page.getByLabel("Password").fill(member.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url("/sandboxes"));
    await live();
    await row(nsA, "mine").waitFor();
    assert.equal(await row(nsB, "theirs").count(), 0);
    await browser.snap("member-list");
    await page.goto(url(`/sandboxes/${nsB}/theirs`), { waitUntil: "load" });
    assert.match(
      (await page.getByTestId("refusal").textContent()) ?? "",
      /cannot get resource "sandboxes" in API group "turgon.dev"/,
    );
    await browser.snap("member-refused");
    await open("/nodes", "member-nodes");
    const nodeRow = page.locator(`[data-testid="node-row"][data-name="${nodeName()}"]`);
    await nodeRow.waitFor();
    // Members see the node, not the agent's address, and none of other teams' sandboxes.
    assert.doesNotMatch((await nodeRow.textContent()) ?? "", /https?:\/\//);
    assert.equal(await nodeRow.getByTestId("node-sandboxes").textContent(), "0");
  });
});
