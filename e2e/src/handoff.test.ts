/**
 * The router's sign-in hand-off, the dashboard's half, without a router or
 * a VM: Sandbox objects made with kubectl (no operator) in a namespace
 * bound to a team; a member visits /signin?return=<routed URL>, signs in
 * and is sent back with a hand-off token, which the test captures in the
 * browser instead of following it, and verifies with the key from the
 * dashboard's token Secret. Another team's member gets the 403 page, and
 * a return to anywhere else is ignored.
 *
 * Every test stands alone: `before` makes the accounts and signs each in
 * through the API, so a test that needs a session has one whichever tests
 * ran before it; a test that signs in through the form does it in a
 * browser no other test uses.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  INGRESS_TOKEN_ALGORITHM,
  INGRESS_TOKEN_PARAM,
  IngressTokenClaims,
  sandboxHostLabel,
} from "@turgon/api/routing";
import { freePort } from "@turgon/dev/ports";
import { eventually, kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { jwtVerify } from "jose";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { must, secretValue } from "./cluster.ts";
import { ok, type Session, signIn, trpc } from "./dashboard-api.ts";

interface Account {
  id: string;
  email: string;
  password: string;
  /** Their own session, signed in through the API in `before`, for calls outside a browser. */
  session: Session;
}

describe("the sign-in hand-off to a routed sandbox", () => {
  let dashboard: TestDashboard;
  let alice: BrowserSession;
  let bob: BrowserSession;
  let routerPort: number;
  let key: Uint8Array;
  const alpha = uniqueName("alpha");
  const beta = uniqueName("beta");
  const namespace = uniqueName("alpha-apps");
  const longName = `long-${"x".repeat(50)}`;
  const accounts: Record<"alice" | "bob", Account> = {} as never;
  /** Every request each browser sent to the router's host (where nothing listens). */
  const reached = new Map<BrowserSession, string[]>();
  /** Records what `browser` sends to the router's host, in `reached`. */
  const watchRouter = (browser: BrowserSession) => {
    reached.set(browser, []);
    browser.context.on("request", (request) => {
      if (new URL(request.url()).port !== String(routerPort)) return;
      reached.get(browser)?.push(request.url());
    });
    return browser;
  };
  /** A browser of its own for one test, watched like the others. */
  const ownBrowser = async (test: string) => watchRouter(await openBrowser(test));

  const label = (name: string) => sandboxHostLabel(name, namespace);
  const sandboxUrl = (name: string, path = "/x?y=1") =>
    `http://${label(name)}.localhost:${routerPort}${path}`;
  const signinFor = (url: string) => `${dashboard.url}/signin?return=${encodeURIComponent(url)}`;

  /** Makes a user through the admin API, in `team`, with the password shown once, and signs them in. */
  const member = async (admin: Session, team: string, name: string): Promise<Account> => {
    const email = `${uniqueName(name)}@example.com`;
    const added = await ok(
      trpc<{ user: { id: string }; password?: string }>(dashboard.url, admin, "teams.addMember", {
        mutation: true,
        input: { team, email },
      }),
    );
    assert.ok(added.password, "a new account's password");
    // The test dashboard allows 60 sign-ins per address in 10 s (better-auth's 3 in production).
    const session = await signIn(dashboard.url, email, added.password);
    return { id: added.user.id, email, password: added.password, session };
  };

  /** Gives `browser` the account's session, as if they had signed in there. */
  const holdSession = async (browser: BrowserSession, who: Account) => {
    await browser.context.addCookies(
      who.session.cookie.split("; ").map((pair) => {
        const at = pair.indexOf("=");
        return { name: pair.slice(0, at), value: pair.slice(at + 1), url: dashboard.url };
      }),
    );
  };

  /** The dashboard's answer to GET /signin?return=…, not followed. */
  const handoff = async (who: Account | undefined, returnTo: string) => {
    const response = await fetch(signinFor(returnTo), {
      redirect: "manual",
      headers: who ? { cookie: who.session.cookie } : {},
    });
    await response.body?.cancel();
    return response;
  };

  /** Verifies a hand-off token as the router does: the key, HS256, the audience, the claims. */
  const verify = async (token: string | null, audience: string) => {
    assert.ok(token, "the URL carries a hand-off token");
    const { payload } = await jwtVerify(token, key, {
      algorithms: [INGRESS_TOKEN_ALGORITHM],
      audience,
    });
    const claims = IngressTokenClaims.parse(payload);
    assert.equal(claims.use, "handoff");
    assert.ok(claims.jti, "single-use: it carries a jti");
    const now = Math.floor(Date.now() / 1000);
    assert.ok(claims.exp > now, "not expired");
    assert.ok(claims.exp - now <= 60, `lives 60 s or less, not ${claims.exp - now} s`);
    assert.ok(claims.exp - (payload.iat ?? 0) <= 60);
    return claims;
  };

  before(async () => {
    // Each signs in through the form in one test only, so each starts signed out there.
    alice = await ownBrowser("handoff");
    bob = await ownBrowser("handoff-other-team");
    routerPort = await freePort();
    dashboard = await startTestDashboard({
      logFile: join(alice.artifacts, "dashboard.log"),
      ingress: { domain: "localhost", scheme: "http", port: routerPort },
    });
    key = new Uint8Array(
      (await secretValue(dashboard.ingressTokenSecret, "current")) ?? assert.fail("no token key"),
    );
    await must(["create", "namespace", namespace]);
    const admin = await signIn(dashboard.url, dashboard.admin.email, dashboard.admin.password);
    for (const [slug, name] of [
      [alpha, "Alpha"],
      [beta, "Beta"],
    ])
      await ok(
        trpc(dashboard.url, admin, "teams.create", { mutation: true, input: { name, slug } }),
      );
    await ok(
      trpc(dashboard.url, admin, "teams.bindNamespace", {
        mutation: true,
        input: { team: alpha, namespace },
      }),
    );
    accounts.alice = await member(admin, alpha, "alice");
    accounts.bob = await member(admin, beta, "bob");
    const sandbox = (name: string, access: string) => ({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name, namespace },
      spec: { image: "debian-python:latest", ingress: { enabled: true, access } },
    });
    const list = {
      apiVersion: "v1",
      kind: "List",
      items: [
        sandbox("app", "private"),
        sandbox("open", "authenticated"),
        sandbox("pub", "public"),
        sandbox(longName, "private"),
      ],
    };
    const file = join(alice.artifacts, "sandboxes.json");
    await writeFile(file, JSON.stringify(list, null, 2));
    await must(["apply", "-f", file]);
  });
  after(async () => {
    await bob?.close();
    await alice?.close();
    await dashboard?.stop();
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  });

  it("a member of the sandbox's team signs in there and is sent back with a hand-off token for that host", async () => {
    const { page } = alice;
    const target = sandboxUrl("app");
    await alice.visit(signinFor(target), "signin-for-sandbox");
    assert.match(
      (await page.getByTestId("signin-sandbox").textContent()) ?? "",
      new RegExp(`Sign in to open ${label("app")}\\.localhost:${routerPort}`),
    );
    await page.getByLabel("Email address").fill(accounts.alice.email);
    await page.getByLabel("Password").fill(accounts.alice.password);
    // The browser is sent to the router's host, where nothing listens: the request is captured, not served.
    const toRouter = page.waitForRequest(
      (request) => new URL(request.url()).port === String(routerPort),
    );
    await page.getByRole("button", { name: "Sign in" }).click();
    const request = await toRouter;
    const redirect = await request.redirectedFrom()?.response();
    assert.equal(redirect?.status(), 307);
    assert.equal(new URL(request.redirectedFrom()?.url() ?? "").pathname, "/signin");
    // Nothing listens there: the request fails, and the browser shows its own error page.
    assert.equal(await request.response(), null);
    assert.deepEqual(reached.get(alice), [request.url()]);
    const back = new URL(request.url());
    assert.equal(back.origin, `http://app--${namespace}.localhost:${routerPort}`);
    assert.equal(back.pathname, "/x");
    assert.equal(back.searchParams.get("y"), "1");
    const claims = await verify(back.searchParams.get(INGRESS_TOKEN_PARAM), label("app"));
    assert.equal(claims.sub, accounts.alice.id);
    assert.deepEqual(claims.teams, [alpha]);
    assert.equal(claims.admin, false);
    // The token is for that host only.
    await assert.rejects(
      jwtVerify(back.searchParams.get(INGRESS_TOKEN_PARAM) ?? "", key, { audience: label("open") }),
    );
  });

  it("a signed-in member is sent back at once: a 307, never cached, with a fresh token each time", async () => {
    const jtis = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const response = await handoff(accounts.alice, sandboxUrl("app", "/"));
      assert.equal(response.status, 307);
      assert.match(response.headers.get("cache-control") ?? "", /no-store/);
      const location = new URL(response.headers.get("location") ?? "");
      assert.equal(location.host, `${label("app")}.localhost:${routerPort}`);
      jtis.add(
        (await verify(location.searchParams.get(INGRESS_TOKEN_PARAM), label("app"))).jti ?? "",
      );
    }
    assert.equal(jtis.size, 2);
  });

  it("a member of another team gets the 403 page, not another trip through sign-in", async () => {
    const { page } = bob;
    const target = sandboxUrl("app");

    await bob.visit(signinFor(target), "signin-other-team");
    await page.getByLabel("Email address").fill(accounts.bob.email);
    await page.getByLabel("Password").fill(accounts.bob.password);
    const answered = page.waitForResponse(
      (r) => r.url() === signinFor(target) && r.request().isNavigationRequest(),
    );
    await page.getByRole("button", { name: "Sign in" }).click();
    assert.equal((await answered).status(), 403);
    const heading = page.getByTestId("handoff-forbidden");
    await heading.waitFor();
    await page.waitForLoadState("networkidle");
    await bob.snap("forbidden");
    const text = (await page.locator("main").textContent()) ?? "";
    assert.match(text, new RegExp(`belongs to team ${alpha}`));
    assert.match(text, new RegExp(`signed in as ${accounts.bob.email}`));
    assert.deepEqual(reached.get(bob), [], "nothing was sent on to the router");
    assert.equal(new URL(page.url()).pathname, "/signin");

    const response = await handoff(accounts.bob, target);
    assert.equal(response.status, 403);
    assert.equal(response.headers.get("location"), null);
  });

  it("resolves the short hashed label of a long-named sandbox", async () => {
    const hashed = label(longName);
    assert.ok(!hashed.includes("--"), `${hashed} is the short form`);
    const response = await handoff(accounts.alice, sandboxUrl(longName, "/"));
    assert.equal(response.status, 307);
    const location = new URL(response.headers.get("location") ?? "");
    await verify(location.searchParams.get(INGRESS_TOKEN_PARAM), hashed);
    // Another team's member is refused it too.
    assert.equal((await handoff(accounts.bob, sandboxUrl(longName, "/"))).status, 403);
  });

  it("authenticated sandboxes admit anyone signed in; public ones need no token", async () => {
    const open = await handoff(accounts.bob, sandboxUrl("open"));
    assert.equal(open.status, 307);
    const claims = await verify(
      new URL(open.headers.get("location") ?? "").searchParams.get(INGRESS_TOKEN_PARAM),
      label("open"),
    );
    assert.deepEqual(claims.teams, [beta]);
    const pub = await handoff(accounts.bob, sandboxUrl("pub"));
    assert.equal(pub.status, 307);
    const location = new URL(pub.headers.get("location") ?? "");
    assert.equal(location.href, sandboxUrl("pub"));
    assert.equal(location.searchParams.has(INGRESS_TOKEN_PARAM), false);
  });

  it("an address no sandbox answers to gets a 404 page", async () => {
    const nowhere = sandboxUrl("nothing");
    assert.equal((await handoff(accounts.alice, nowhere)).status, 404);
    // The page, as a signed-in member's browser shows it.
    const browser = await ownBrowser("handoff-not-found");
    try {
      await holdSession(browser, accounts.alice);
      const response = await browser.page.goto(signinFor(nowhere), { waitUntil: "networkidle" });
      assert.equal(response?.status(), 404);
      await browser.page.getByTestId("handoff-not-found").waitFor();
      await browser.snap("no-such-sandbox");
    } finally {
      await browser.close();
    }
  });

  it("ignores a return to anywhere else: no open redirect", async () => {
    for (const hostile of [
      "https://evil.example/",
      "//evil.example/x",
      `http://app--${namespace}.localhost.evil.com:${routerPort}/`,
      `http://a@evil.example:${routerPort}/`,
      `http://app--${namespace}.localhost:${routerPort + 1}/`,
      `https://app--${namespace}.localhost:${routerPort}/`,
      `http:\\\\app--${namespace}.localhost:${routerPort}/`,
    ]) {
      const response = await handoff(accounts.alice, hostile);
      assert.equal(response.status, 307, hostile);
      assert.equal(response.headers.get("location"), "/sandboxes", hostile);
    }
    // Not signed in: the plain form, saying nothing about a sandbox.
    const signedOut = await ownBrowser("handoff-signed-out");
    try {
      await signedOut.visit(signinFor("https://evil.example/"), "signin-hostile-return");
      await signedOut.page.getByRole("button", { name: "Sign in" }).waitFor();
      assert.equal(await signedOut.page.getByTestId("signin-sandbox").count(), 0);
      await signedOut.visit(
        signinFor(`http://a@app--${namespace}.localhost:${routerPort}/`),
        "signin-userinfo-return",
      );
      assert.equal(await signedOut.page.getByTestId("signin-sandbox").count(), 0);
      // Counted for this test's own browser: another test's browser may still be loading.
      assert.deepEqual(reached.get(signedOut), [], "the hostile returns sent it nowhere");
    } finally {
      await signedOut.close();
    }
  });

  it("follows the edge ConfigMap: a moved router port is honoured without a restart", async () => {
    const moved = await freePort();
    const at = (port: number) => `http://${label("app")}.localhost:${port}/x`;
    const visitor = await ownBrowser("handoff-edge-moved");
    /** The routed URL the signed-out sign-in page offers for a return to `port`, or "" when it ignores it. */
    const offered = async (port: number) => {
      await visitor.page.goto(signinFor(at(port)), { waitUntil: "load" });
      await visitor.page.getByRole("button", { name: "Sign in" }).waitFor();
      const box = visitor.page.getByTestId("signin-sandbox");
      return (await box.count()) > 0 ? ((await box.textContent()) ?? "") : "";
    };
    try {
      await dashboard.setIngress({ port: moved });
      // The dashboard hears the change on its watch of the ConfigMap: no restart.
      await eventually(
        "the sign-in page offers the moved URL",
        () => offered(moved),
        (text) => text.includes(`${label("app")}.localhost:${moved}`),
        30_000,
      );
      await visitor.snap("signin-edge-moved");
      assert.equal(await offered(routerPort), "", "the old port is now anywhere else");
    } finally {
      await dashboard.setIngress({ port: routerPort });
      await eventually(
        "the sign-in page offers the router's port again",
        () => offered(routerPort),
        (text) => text.includes(`${label("app")}.localhost:${routerPort}`),
        30_000,
      ).finally(() => visitor.close());
    }
  });
});
