/**
 * Debian's Chromium driven by playwright-core (browser downloads are
 * impossible here): headless, a fresh profile per session, nothing that
 * reaches the network on its own, and a screenshot of every page visited.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page, type Request } from "playwright-core";

export const CHROMIUM = process.env.TURGON_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  // Tests run as root in containers, where Chromium's sandbox cannot start.
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** e2e/artifacts/: screenshots and logs of browser tests (gitignored). */
export const ARTIFACTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../artifacts");

export class BrowserError extends Error {
  override name = "BrowserError";
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** This test's artifacts directory, e2e/artifacts/<test>/. */
  artifacts: string;
  /** Opens `url`, waits until it has settled (see settle) and saves a screenshot named after `name`. */
  visit(url: string, name: string): Promise<void>;
  /**
   * Resolves once no request has been in flight for 500 ms: Playwright's
   * networkidle, except that open EventSource streams (the dashboard's
   * live updates over SSE, which never end) do not count.
   */
  settle(): Promise<void>;
  /** Saves a screenshot of the page as it is now: <artifacts>/NN-<name>.png. */
  snap(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Launches a headless Chromium with a fresh user-data-dir for the test named `test`. */
export async function openBrowser(test: string): Promise<BrowserSession> {
  const artifacts = join(ARTIFACTS_DIR, test);
  await rm(artifacts, { recursive: true, force: true });
  await mkdir(artifacts, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), "turgon-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw new BrowserError(
      `could not start Chromium at ${CHROMIUM}: ${(error as Error).message.split("\n")[0]}`,
      { cause: error },
    );
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const inFlight = new Set<Request>();
  let changed: () => void = () => {};
  const track = (request: Request) => {
    if (request.resourceType() === "eventsource") return;
    inFlight.add(request);
    changed();
  };
  const untrack = (request: Request) => {
    if (inFlight.delete(request)) changed();
  };
  page.on("request", track);
  page.on("requestfinished", untrack);
  page.on("requestfailed", untrack);
  const settle = (idleMs = 500, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        clearTimeout(idle);
        changed = () => {};
        reject(
          new BrowserError(`${inFlight.size} request(s) still in flight after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      changed = () => {
        clearTimeout(idle);
        if (inFlight.size > 0) return;
        idle = setTimeout(() => {
          clearTimeout(deadline);
          changed = () => {};
          resolve();
        }, idleMs);
      };
      changed();
    });
  let count = 0;
  console.log(`# screenshots of ${test}: ${artifacts}`);
  const snap = async (name: string) => {
    count += 1;
    const file = join(artifacts, `${String(count).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  return {
    context,
    page,
    artifacts,
    snap,
    async visit(url, name) {
      await page.goto(url, { waitUntil: "load" });
      await settle();
      await snap(name);
    },
    settle: () => settle(),
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
