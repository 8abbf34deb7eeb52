import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";

describe("dashboard sign-in", () => {
  let dashboard: TestDashboard;
  let browser: BrowserSession;

  before(async () => {
    browser = await openBrowser("signin");
    dashboard = await startTestDashboard({ logFile: join(browser.artifacts, "dashboard.log") });
  });
  after(async () => {
    await browser?.close();
    await dashboard?.stop();
  });

  const url = (path: string) => `${dashboard.url}${path}`;

  it("answers a tRPC call without a session with 401", async () => {
    const response = await fetch(url("/api/trpc/me.get"));
    assert.equal(response.status, 401);
    const body = (await response.json()) as { error: { json: { data: { code: string } } } };
    assert.equal(body.error.json.data.code, "UNAUTHORIZED");
  });

  it("sends a visitor without a session to /signin, remembering the page", async () => {
    await browser.visit(url("/nodes"), "signed-out-nodes");
    const here = new URL(browser.page.url());
    assert.equal(here.pathname, "/signin");
    assert.equal(here.searchParams.get("return"), "/nodes");
  });

  it("shows an error on the page for a wrong password", async () => {
    const { page } = browser;
    await browser.visit(url("/signin"), "signin");
    await page.getByLabel("Email address").fill(dashboard.admin.email);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    // Next.js keeps an empty role=alert route announcer on every page: look for ours by its text.
    await page.getByRole("alert").filter({ hasText: "Wrong email or password." }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/signin");
    await browser.snap("wrong-password");
  });

  it("signs the admin in and lands on /sandboxes showing their email", async () => {
    const { page } = browser;
    await page.getByLabel("Password").fill(dashboard.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url("/sandboxes"));
    const signedInAs = page.getByTestId("signed-in-as");
    await signedInAs.waitFor();
    assert.match((await signedInAs.textContent()) ?? "", /Signed in as admin@turgon\.local/);
    await browser.settle();
    await browser.snap("sandboxes");

    // Admins see the Teams page in the navigation; Profile renders through tRPC in the browser.
    assert.equal(await page.getByRole("link", { name: "Teams" }).count(), 1);
    await browser.visit(url("/profile"), "profile");
    assert.equal(await page.getByTestId("profile-email").textContent(), dashboard.admin.email);
    await browser.visit(url("/teams"), "teams");
    assert.equal(await page.getByRole("heading", { name: "Teams", level: 1 }).count(), 1);
  });

  it("a return path brings a signed-in user where they were going", async () => {
    await browser.visit(url("/signin?return=%2Fnodes"), "signin-return-signed-in");
    assert.equal(new URL(browser.page.url()).pathname, "/nodes");
  });

  it("signs out back to /signin, and the pages are closed again", async () => {
    const { page } = browser;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((u) => u.pathname === "/signin");
    await browser.snap("signed-out");
    await browser.visit(url("/sandboxes"), "signed-out-sandboxes");
    assert.equal(new URL(page.url()).pathname, "/signin");
  });
});
