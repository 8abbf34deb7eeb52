import assert from "node:assert/strict";
import type { Page } from "playwright-core";

/**
 * Every response body the watched pages got from the dashboard (documents,
 * tRPC, RSC payloads: anything not a static asset) and every message of its
 * live streams, and page HTML kept on request: what a leak check searches.
 * Bodies are read by routing each request through the test (Playwright's
 * `route.fetch`), so none is missed when a page moves on before reading it.
 */
export class SeenByBrowsers {
  private readonly bodies: string[] = [];
  private readonly pages: string[] = [];

  async watch(page: Page): Promise<void> {
    await page.route("**/*", async (route) => {
      const type = route.request().resourceType();
      // Live streams never end: their messages come from the DevTools protocol below.
      if (!["document", "fetch", "xhr"].includes(type)) return route.continue();
      let response: Awaited<ReturnType<typeof route.fetch>>;
      try {
        response = await route.fetch();
      } catch {
        // The page went away first: nothing reached it.
        return route.abort().catch(() => {});
      }
      const body = await response.text();
      this.bodies.push(body);
      await route.fulfill({ response, body }).catch(() => {});
    });
    const devtools = await page.context().newCDPSession(page);
    await devtools.send("Network.enable");
    devtools.on("Network.eventSourceMessageReceived", (message) => {
      this.bodies.push(message.data);
    });
  }

  /** Keeps the page's HTML as it is now (after client rendering). */
  async keep(page: Page): Promise<void> {
    this.pages.push(await page.content());
  }

  all(): { bodies: string[]; pages: string[] } {
    return { bodies: [...this.bodies], pages: [...this.pages] };
  }

  /**
   * Fails when any body seen so far, or any of `pages` as it is now, holds
   * `secret` as is or in base64. `named` must appear in some body: the
   * proof that the responses that could have carried the secret were read.
   */
  async assertNeverCarried(secret: string, options: { pages: Page[]; named: string }) {
    const bodies = this.all().bodies;
    assert.ok(bodies.length > 10, `only ${bodies.length} responses were seen`);
    const b64 = Buffer.from(secret).toString("base64");
    for (const body of bodies) {
      assert.ok(!body.includes(secret), "a response carried the secret's value");
      assert.ok(!body.includes(b64), "a response carried the secret's value (base64)");
    }
    assert.ok(
      bodies.some((body) => body.includes(options.named)),
      `no response named ${options.named}`,
    );
    for (const page of options.pages)
      assert.ok(!(await page.content()).includes(secret), `${page.url()} shows the secret`);
  }
}
