/**
 * A sandbox used from the dashboard, through the whole stack: a node agent,
 * the operator and the router (startStack) with one real VM under TCG, and
 * a dashboard whose terminals connect to that router, whose key it shares,
 * and which is the router's sign-in page. In Chromium, the admin types,
 * pastes, resizes the window, exits with a status and reconnects, then
 * closes the tab; a member of another team is refused; a token the
 * dashboard minted opens one session only. The same VM serves a private
 * page: its team's member clicks the routed URL, signs in and sees it; the
 * other team's member gets the 403 page, and the router refuses their token.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EXEC_AUDIT_QUEUE, type ExecAuditEvent } from "@turgon/api/audit";
import {
  EXEC_PATH,
  INGRESS_COOKIE,
  INGRESS_TOKEN_PARAM,
  mintIngressToken,
} from "@turgon/api/routing";
import { freePort } from "@turgon/dev/ports";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { type Stack, startStack } from "@turgon/operator/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Page } from "playwright-core";
import WebSocket from "ws";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { eventually, must } from "./cluster.ts";
import { ok, type Session, signIn, trpc } from "./dashboard-api.ts";

/** TCG guests are slow to answer; a keystroke's echo still comes well within this. */
const SCREEN_TIMEOUT_MS = 30_000;

/** The terminal's element, with the handle the component leaves on it for tests. */
interface TerminalElement {
  turgonTerminal?: { text(): string };
}
/** The browser globals the page-side callbacks use (this package compiles without the DOM lib). */
interface PageGlobals {
  document: { querySelector(selector: string): unknown };
  DataTransfer: new () => { setData(type: string, value: string): void };
  ClipboardEvent: new (type: string, init: Record<string, unknown>) => unknown;
}

/** The terminal on a page, read and driven as a user would, with its buffer read for checks. */
function terminalOn(page: Page) {
  const box = page.getByTestId("terminal");
  const screen = page.getByTestId("terminal-screen");
  const text = () =>
    screen.evaluate((el) => (el as unknown as TerminalElement).turgonTerminal?.text() ?? "");
  const attribute = async (name: string) => (await box.getAttribute(name)) ?? undefined;
  return {
    box,
    text,
    attribute,
    /** Waits until the buffer matches `pattern`; fails showing what the terminal says. */
    async waitForText(pattern: RegExp, what: string): Promise<RegExpMatchArray[]> {
      try {
        await page.waitForFunction(
          ([source, flags]) => {
            const { document } = globalThis as unknown as PageGlobals;
            const el = document.querySelector(
              '[data-testid="terminal-screen"]',
            ) as TerminalElement | null;
            return new RegExp(source as string, flags).test(el?.turgonTerminal?.text() ?? "");
          },
          [pattern.source, pattern.flags] as const,
          { timeout: SCREEN_TIMEOUT_MS, polling: 50 },
        );
      } catch (error) {
        throw new Error(
          `${what}: not on the terminal within ${SCREEN_TIMEOUT_MS} ms; it shows:\n${await text()}`,
          {
            cause: error,
          },
        );
      }
      return [
        ...(await text()).matchAll(
          new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`),
        ),
      ];
    },
    async waitForState(state: string): Promise<void> {
      await page.locator(`[data-testid="terminal"][data-state="${state}"]`).waitFor({
        timeout: SCREEN_TIMEOUT_MS,
      });
    },
    /** Types a line and presses Enter, as keystrokes into xterm's input. */
    async typeLine(line: string): Promise<void> {
      await page.keyboard.type(line);
      await page.keyboard.press("Enter");
    },
  };
}

/** What the guest's private page says. */
const GUEST_PAGE = "private guest page";

/** A GET to the router for a routed host, as curl would send it (Node does not resolve *.localhost). */
function routerGet(
  port: number,
  target: URL,
  headers: Record<string, string> = {},
): Promise<{ status: number; location?: string; setCookie?: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: `${target.pathname}${target.search}`,
        headers: { host: target.host, ...headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.location ? { location: res.headers.location } : {}),
            ...(res.headers["set-cookie"] ? { setCookie: res.headers["set-cookie"] } : {}),
            body,
          }),
        );
      },
    );
    req.once("error", reject);
    req.end();
  });
}

/** A shell prompt at the end of the buffer (`root@…:~# `), so input goes to a ready shell. */
const PROMPT = /[#$] ?$/;

describe("web terminal", () => {
  let stack: Stack;
  let dashboard: TestDashboard;
  let admin: BrowserSession;
  let member: BrowserSession;
  let adminApi: Session;
  let redis: Redis;
  let audit: Queue;
  const namespace = uniqueName("term");
  const teamNamespace = uniqueName("term-team");
  const team = { name: "Terminal team", slug: uniqueName("tt") };
  const memberEmail = `${uniqueName("mo")}@example.com`;
  let memberPassword = "";
  let uid = "";

  const url = (path: string) => `${dashboard.url}${path}`;
  const terminalPage = `/sandboxes/${namespace}/shell/terminal`;
  const auditEvents = async () =>
    (await audit.getJobs(["waiting", "active", "completed", "delayed"])).map(
      (job) => job.data as ExecAuditEvent,
    );
  const guestSh = async (script: string) => {
    const result = await stack.guestExec(uid, ["/bin/sh", "-c", script]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout.trim();
  };

  before(async () => {
    // The dashboard's port first: the router must know where to send browsers to sign in.
    const dashboardPort = await freePort();
    stack = await startStack({ signInUrl: `http://127.0.0.1:${dashboardPort}/signin` });
    await must(["create", "namespace", namespace]);
    await must(["create", "namespace", teamNamespace]);
    const sandbox = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "shell", namespace, labels: stack.labels },
      spec: {
        image: "debian-python:latest",
        // A private page on the same VM, for the routed-URL journey.
        command: [
          "/bin/sh",
          "-c",
          `mkdir -p /srv/site && echo '${GUEST_PAGE}' > /srv/site/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site`,
        ],
        ingress: { enabled: true, access: "private", routes: [{ prefix: "/", port: 8000 }] },
      },
    };
    await writeFile(join(stack.dir, "shell.json"), JSON.stringify(sandbox));
    await must(["apply", "-f", join(stack.dir, "shell.json")]);
    admin = await openBrowser("terminal");
    member = await openBrowser("terminal-member");
    // The stack's router and its key Secret: the dashboard's tokens must pass there.
    dashboard = await startTestDashboard({
      port: dashboardPort,
      logFile: join(admin.artifacts, "dashboard.log"),
      routerUrl: `http://127.0.0.1:${stack.routerPort}`,
      edgeConfig: stack.edge.ref,
      ingressTokenSecret: "turgon-system/turgon-ingress-keys",
    });
    await must([
      "wait",
      "sandbox/shell",
      "-n",
      namespace,
      "--for=condition=Ready",
      "--timeout=240s",
    ]);
    uid = (
      await must(["get", "sandbox", "shell", "-n", namespace, "-o", "jsonpath={.metadata.uid}"])
    ).trim();
    adminApi = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);
    redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
    audit = new Queue(EXEC_AUDIT_QUEUE, { connection: redis });
  });

  after(async () => {
    await audit?.close();
    redis?.disconnect();
    await member?.close();
    await admin?.close();
    await dashboard?.stop();
    // While the operator still runs, so the Sandbox's finalizer is done and the namespace can go.
    await kubectl([
      "delete",
      "sandbox",
      "shell",
      "-n",
      namespace,
      "--timeout=60s",
      "--ignore-not-found",
    ]);
    await stack?.stop();
    for (const ns of [namespace, teamNamespace])
      await kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
  });

  it("refuses to mint a token without a session: 401", async () => {
    const result = await trpc(dashboard.url, undefined, "terminal.mintToken", {
      mutation: true,
      input: { namespace, name: "shell" },
    });
    assert.equal(result.status, 401, JSON.stringify(result));
    assert.equal(result.error?.code, "UNAUTHORIZED");
  });

  it("the admin opens the terminal page and `echo $((6*7))` shows 42", async () => {
    const { page } = admin;
    await admin.visit(url(`/signin?return=${encodeURIComponent(terminalPage)}`), "signin");
    await page.getByLabel("Email address").fill(dashboard.admin.email);
    await page.getByLabel("Password").fill(dashboard.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url(terminalPage));
    const term = terminalOn(page);
    await term.waitForState("open");
    await term.waitForText(PROMPT, "the shell's prompt");
    await admin.snap("terminal-prompt");
    await page.getByTestId("terminal-screen").click();
    await term.typeLine("echo $((6*7))");
    await term.waitForText(/^42$/m, "42");
    await admin.snap("echo-42");
  });

  it("pasting sends the text to the shell", async () => {
    const { page } = admin;
    const term = terminalOn(page);
    // What the browser does on Ctrl+V: a paste event on xterm's input with the clipboard's text.
    await page.locator(".xterm-helper-textarea").evaluate((textarea, text) => {
      const { DataTransfer, ClipboardEvent } = globalThis as unknown as PageGlobals;
      const clipboardData = new DataTransfer();
      clipboardData.setData("text/plain", text);
      textarea.dispatchEvent(
        new ClipboardEvent("paste", { clipboardData, bubbles: true, cancelable: true }) as Event,
      );
    }, "echo pasted-$((2+3))");
    await term.waitForText(/echo pasted-\$\(\(2\+3\)\)/, "the pasted line at the prompt");
    await page.keyboard.press("Enter");
    await term.waitForText(/^pasted-5$/m, "the pasted command's output");
    await admin.snap("paste");
  });

  it("resizing the browser window resizes the pty: `stty size` follows", async () => {
    const { page } = admin;
    const term = terminalOn(page);
    const sizeNow = async (what: string) => {
      const marker = randomBytes(3).toString("hex");
      await term.typeLine(`echo "size-${marker}=$(stty size)"`);
      const [match] = await term.waitForText(
        new RegExp(`^size-${marker}=(\\d+) (\\d+)$`, "m"),
        what,
      );
      return { rows: Number(match?.[1]), cols: Number(match?.[2]) };
    };
    const before = await sizeNow("stty size at 1280×800");
    assert.deepEqual(before, {
      rows: Number(await term.attribute("data-rows")),
      cols: Number(await term.attribute("data-cols")),
    });
    // Still wide enough for the sidebar beside the page (lg), as on a smaller laptop.
    await page.setViewportSize({ width: 1100, height: 620 });
    await page
      .locator(`[data-testid="terminal"]:not([data-cols="${before.cols}"])`)
      .waitFor({ timeout: SCREEN_TIMEOUT_MS });
    const after = await sizeNow("stty size at 1100×620");
    assert.deepEqual(after, {
      rows: Number(await term.attribute("data-rows")),
      cols: Number(await term.attribute("data-cols")),
    });
    assert.ok(after.cols < before.cols, `cols ${before.cols} → ${after.cols}`);
    assert.ok(after.rows < before.rows, `rows ${before.rows} → ${after.rows}`);
    await admin.snap("resized");
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("`exit 3` shows status 3 with a Reconnect button, and the session is recorded", async () => {
    const { page } = admin;
    const term = terminalOn(page);
    await term.typeLine("exit 3");
    await term.waitForState("ended");
    assert.equal(await term.attribute("data-exit-code"), "3");
    assert.equal(
      await page.getByTestId("terminal-status").textContent(),
      "Process exited with status 3",
    );
    await page.getByRole("button", { name: "Reconnect" }).waitFor();
    await admin.snap("exited-3");
    const events = await eventually(
      "the session's record on the exec audit queue",
      auditEvents,
      (all) => all.some((e) => e.exitCode === 3),
      15_000,
    );
    const event = events.find((e) => e.exitCode === 3) as ExecAuditEvent;
    assert.equal(event.user, dashboard.admin.email);
    assert.deepEqual(event.sandbox, { uid, name: "shell", namespace });
    assert.equal(event.reason, "exited");
    assert.equal(event.command, null, "an interactive login shell");
    assert.equal(event.tty, true);
  });

  it("Reconnect opens a new session with a fresh token", async () => {
    const { page } = admin;
    const term = terminalOn(page);
    const minted = async () =>
      (await readFile(dashboard.logFile, "utf8"))
        .split("\n")
        .filter((line) => line.includes('"exec token minted"')).length;
    const before = await minted();
    await page.getByRole("button", { name: "Reconnect" }).click();
    await term.waitForState("open");
    assert.equal(await minted(), before + 1, "one more token minted for the new connection");
    assert.equal(await page.getByRole("button", { name: "Reconnect" }).count(), 0);
    await term.typeLine("echo again-$((1+1))");
    await term.waitForText(/^again-2$/m, "the new session's output");
    await admin.snap("reconnected");
  });

  it("closing the tab ends the session: the shell and its foreground job are gone from the guest, and the session is recorded", async () => {
    const { page } = admin;
    const term = terminalOn(page);
    const mark = `TURGON_MARK=${randomBytes(4).toString("hex")}`;
    // A shell whose environment carries the mark, so the guest's /proc can tell whether it runs.
    await term.typeLine(`exec env ${mark} bash --norc -i`);
    await term.typeLine("echo marked-$((3*3))");
    await term.waitForText(/^marked-9$/m, "the marked shell");
    const marked = `grep -l '${mark}' /proc/[0-9]*/environ 2>/dev/null | wc -l`;
    assert.equal(await guestSh(marked), "1", "the marked shell runs in the guest");
    // A job in the foreground (it inherits the mark) must end with the tab too.
    await term.typeLine("sleep 4242");
    await eventually(
      "the foreground job runs",
      () => guestSh(marked),
      (n) => n === "2",
      30_000,
    );
    await admin.snap("before-closing-tab");
    const recorded = new Set((await auditEvents()).map((e) => e.id));
    await page.close({ runBeforeUnload: true });
    await eventually(
      "the end of the marked shell and its foreground job in the guest",
      () => guestSh(marked),
      (n) => n === "0",
      30_000,
    );
    const [closed] = (
      await eventually(
        "the closed session's record",
        auditEvents,
        (all) => all.some((e) => !recorded.has(e.id)),
        15_000,
      )
    ).filter((e) => !recorded.has(e.id));
    assert.equal(closed?.user, dashboard.admin.email);
    assert.equal(closed?.exitCode, null, "no exit status: the process did not finish on its own");
    assert.equal(closed?.reason, "client-closed", "the browser ended it");
  });

  it("a member whose teams don't hold the namespace is refused (FORBIDDEN, on the page and from tRPC); in their team's namespace RBAC lets them ask", async () => {
    const made = await ok(
      trpc<{ slug: string }>(dashboard.url, adminApi, "teams.create", {
        mutation: true,
        input: team,
      }),
    );
    assert.equal(made.slug, team.slug);
    const added = await ok(
      trpc<{ password?: string }>(dashboard.url, adminApi, "teams.addMember", {
        mutation: true,
        input: { team: team.slug, email: memberEmail },
      }),
    );
    memberPassword = added.password ?? "";
    assert.ok(memberPassword, "a new member's password");
    await ok(
      trpc(dashboard.url, adminApi, "teams.bindNamespace", {
        mutation: true,
        input: { team: team.slug, namespace: teamNamespace },
      }),
    );

    const { page } = member;
    await member.visit(url(`/signin?return=${encodeURIComponent(terminalPage)}`), "member-signin");
    await page.getByLabel("Email address").fill(memberEmail);
    await page.getByLabel("Password").fill(memberPassword);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url(terminalPage));
    const term = terminalOn(page);
    await term.waitForState("refused");
    assert.match(
      (await page.getByTestId("terminal-status").textContent()) ?? "",
      new RegExp(`You may not open a terminal in ${namespace}/shell`),
    );
    await member.snap("member-refused");

    // The browser's session (better-auth rate-limits sign-ins from one address).
    const session: Session = {
      email: memberEmail,
      cookie: (await member.context.cookies(dashboard.url))
        .map((c) => `${c.name}=${c.value}`)
        .join("; "),
    };
    const refused = await trpc(dashboard.url, session, "terminal.mintToken", {
      mutation: true,
      input: { namespace, name: "shell" },
    });
    assert.equal(refused.status, 403, JSON.stringify(refused));
    assert.equal(refused.error?.code, "FORBIDDEN");
    // RBAC lets them in their team's namespace (turgon-team-member's sandboxes/exec): the answer is then about the sandbox.
    const theirs = await trpc(dashboard.url, session, "terminal.mintToken", {
      mutation: true,
      input: { namespace: teamNamespace, name: "nothing" },
    });
    assert.equal(theirs.status, 404, JSON.stringify(theirs));
    assert.equal(theirs.error?.code, "NOT_FOUND");
    // Bad input names the field.
    const bad = await trpc(dashboard.url, session, "terminal.mintToken", {
      mutation: true,
      input: { namespace: "Not A Label", name: "shell" },
    });
    assert.equal(bad.status, 400);
    assert.ok(bad.error?.fieldErrors?.namespace, JSON.stringify(bad));
  });

  it("a token the dashboard minted opens one session at the router; its second use is refused", async () => {
    const { url: socketUrl, expiresAt } = await ok(
      trpc<{ url: string; expiresAt: unknown }>(dashboard.url, adminApi, "terminal.mintToken", {
        mutation: true,
        input: { namespace, name: "shell" },
      }),
    );
    const target = new URL(socketUrl);
    assert.equal(target.host, `127.0.0.1:${stack.routerPort}`, "the router's own host");
    assert.equal(target.pathname, EXEC_PATH);
    assert.ok(expiresAt, "the token's expiry");
    const open = (address: string) =>
      new Promise<{ status: number; body: string; socket?: WebSocket }>((resolve, reject) => {
        const socket = new WebSocket(address);
        socket.once("unexpected-response", (_req, res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        socket.once("upgrade", () => resolve({ status: 101, body: "", socket }));
        socket.once("error", reject);
      });
    const first = await open(socketUrl);
    assert.equal(first.status, 101, first.body);
    const socket = first.socket as WebSocket;
    const exit = await new Promise<number>((resolve, reject) => {
      socket.on("message", (data: Buffer, binary: boolean) => {
        if (binary) return;
        const control = JSON.parse(data.toString("utf8")) as { type: string; exitCode?: number };
        if (control.type === "started")
          socket.send(Buffer.concat([Buffer.of(0), Buffer.from("exit 7\n")]));
        if (control.type === "exit") resolve(control.exitCode as number);
      });
      socket.once("error", reject);
    });
    assert.equal(exit, 7);
    socket.close();
    const second = await open(socketUrl);
    assert.equal(second.status, 401, second.body);
    assert.equal(JSON.parse(second.body).error, "ExecTokenReplayed");
  });

  it("private URL: its team's member clicks it, signs in and sees the guest's page; the hand-off token is then spent; the other team's member gets the 403 page, and the router refuses their token", async () => {
    // A team that holds the sandbox's namespace, with a member of its own (this test runs after the
    // terminal test above, whose member belongs to another team).
    assert.ok(memberPassword, "the other team's member exists (made by the test above)");
    const owners = { name: "Shell owners", slug: uniqueName("own") };
    await ok(trpc(dashboard.url, adminApi, "teams.create", { mutation: true, input: owners }));
    const ownerEmail = `${uniqueName("owner")}@example.com`;
    const { password } = await ok(
      trpc<{ password?: string }>(dashboard.url, adminApi, "teams.addMember", {
        mutation: true,
        input: { team: owners.slug, email: ownerEmail },
      }),
    );
    await ok(
      trpc(dashboard.url, adminApi, "teams.bindNamespace", {
        mutation: true,
        input: { team: owners.slug, namespace },
      }),
    );
    const status = await eventually(
      "the private page is served",
      async () =>
        JSON.parse(await must(["get", "sandbox", "shell", "-n", namespace, "-o", "json"])) as {
          status?: {
            ingress?: { url?: string; access?: string };
            conditions?: { type: string; status: string }[];
          };
        },
      (sb) =>
        sb.status?.ingress?.access === "private" &&
        sb.status.conditions?.some((c) => c.type === "IngressReady" && c.status === "True") ===
          true,
    );
    const guestUrl = new URL(String(status.status?.ingress?.url));
    assert.equal(guestUrl.hostname, `shell--${namespace}.localhost`);
    // The operator advertises the port the stack's edge ConfigMap states: its router's own.
    assert.equal(guestUrl.port, String(stack.routerPort));

    const owner = await openBrowser("private-url");
    try {
      const handoffs: string[] = [];
      owner.page.on("request", (req) => {
        if (req.url().includes(`${INGRESS_TOKEN_PARAM}=`)) handoffs.push(req.url());
      });
      await owner.visit(guestUrl.href, "private-url-signin");
      const signInPage = new URL(owner.page.url());
      assert.equal(signInPage.origin, dashboard.url, "the router sent the browser to sign in");
      assert.equal(signInPage.pathname, "/signin");
      assert.equal(signInPage.searchParams.get("return"), guestUrl.href);
      await owner.page.getByLabel("Email address").fill(ownerEmail);
      await owner.page.getByLabel("Password").fill(password ?? "");
      await owner.page.getByRole("button", { name: "Sign in" }).click();
      await owner.page.waitForURL(guestUrl.href).catch(async (error: Error) => {
        await owner.snap("private-url-stuck");
        const said = await owner.page.locator("main, body").first().textContent();
        throw new Error(`not sent on to ${guestUrl.href} (at ${owner.page.url()}): ${said}`, {
          cause: error,
        });
      });
      await owner.page.getByText(GUEST_PAGE).waitFor();
      await owner.snap("private-url-guest-page");
      assert.equal(handoffs.length, 1, "one hand-off through the URL");
      // The URL it came back with is spent: used again, it sends to sign-in, with no cookie.
      const again = await routerGet(stack.routerPort, new URL(String(handoffs[0])));
      assert.equal(again.status, 302);
      assert.equal(new URL(String(again.location)).pathname, "/signin");
      assert.equal(again.setCookie, undefined);
    } finally {
      await owner.close();
    }

    // The other team's member, signed in to the dashboard already: the 403 page, not a loop.
    await member.visit(guestUrl.href, "private-url-other-team");
    assert.equal(new URL(member.page.url()).origin, dashboard.url);
    await member.page
      .getByText(/not .*(allowed|access)|403/i)
      .first()
      .waitFor();
    await member.snap("private-url-403");
    // And a router session token of theirs (as if they had one) is refused by the router: 403.
    const label = guestUrl.hostname.split(".")[0] as string;
    const token = await mintIngressToken(stack.key, {
      sub: memberEmail,
      aud: label,
      teams: [team.slug],
    });
    const refused = await routerGet(stack.routerPort, guestUrl, {
      cookie: `${INGRESS_COOKIE}=${token}`,
    });
    assert.equal(refused.status, 403, refused.body);
    assert.match(refused.body, /NotATeamMember|not a member/);
  });
});
