/**
 * Web terminal benchmark (the web benchmark's terminal part). Prints the
 * keystroke echo latency, p50/p90 over --keystrokes keys typed one at a
 * time (each waits for its echo), into `bash -l` on a pty in a real VM
 * (TCG here), along three paths:
 *
 *   - straight at the node agent's exec WebSocket, as the router reaches it
 *     (its client certificate): the guest's own time and the agent's;
 *   - a Node WebSocket client through the router's exec edge, with a token
 *     the dashboard minted (terminal.mintToken);
 *   - the dashboard's terminal in Chromium: a key pressed in xterm, from the
 *     stdin frame leaving the page to the echo arriving in it (timed in the
 *     page, so Playwright's own round trips are not counted).
 *
 * and the browser's overhead over the agent (goal: under 20 ms p50 on
 * loopback, the guest's own time aside) with the ratios.
 *
 * Usage: node web/bench/terminal.ts [--keystrokes 100] [--warmup 10]
 * (`npm run bench:web:terminal`). Loopback only; bounded by the counts.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { globalSetup, globalTeardown } from "@turgon/dev/testing/platform";
import { type BrowserSession, openBrowser } from "@turgon/e2e/browser";
import { type Stack, startStack } from "@turgon/operator/testing";
import WebSocket from "ws";

const { values } = parseArgs({
  options: {
    keystrokes: { type: "string", default: "100" },
    warmup: { type: "string", default: "10" },
  },
});
const keystrokes = Number(values.keystrokes);
const warmup = Number(values.warmup);
if (!(keystrokes >= 10 && keystrokes <= 2000 && warmup >= 0 && warmup <= 100))
  throw new Error("--keystrokes must be 10..2000 and --warmup 0..100");

/** How long one echo may take before the run is called broken (TCG guests are slow, not this slow). */
const ECHO_TIMEOUT_MS = 10_000;
/** A prompt at the end of what the shell printed: `root@…:~# `. */
const PROMPT = /[#$] $/;

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

interface Stats {
  p50: number;
  p90: number;
  max: number;
}
function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), max: sorted.at(-1) ?? 0 };
}

/** Resolves with `what` when `ready` holds after a message, or rejects after `ms`. */
function until(socket: WebSocket, ready: () => boolean, what: string, ms = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!ready()) return;
      clearTimeout(timer);
      socket.off("message", check);
      resolve();
    };
    const timer = setTimeout(() => {
      socket.off("message", check);
      reject(new Error(`${what}: not within ${ms} ms`));
    }, ms);
    socket.on("message", check);
    check();
  });
}

/**
 * Keystroke echo over one exec WebSocket speaking the agent's protocol
 * (the agent's own, or the router's relay of it): a login shell on a pty,
 * then one key at a time, each timed from the send to the first output.
 */
async function echoOverSocket(
  address: string,
  options: WebSocket.ClientOptions,
  start: boolean,
): Promise<number[]> {
  const socket = new WebSocket(address, options);
  let output = "";
  let outputs = 0;
  let started = false;
  socket.on("message", (data: Buffer, binary: boolean) => {
    if (binary) {
      output += data.subarray(1).toString("utf8");
      outputs += 1;
    } else if ((JSON.parse(data.toString("utf8")) as { type: string }).type === "started")
      started = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  // The router starts the session itself (from the token); the agent wants a start frame.
  if (start) socket.send(JSON.stringify({ type: "start", tty: true, cols: 120, rows: 40 }));
  await until(socket, () => started && PROMPT.test(output), "the shell's prompt");
  const samples: number[] = [];
  for (let i = 0; i < warmup + keystrokes; i++) {
    const seen = outputs;
    const t0 = performance.now();
    socket.send(Buffer.from([0, 0x61]));
    await until(socket, () => outputs > seen, `echo of keystroke ${i + 1}`, ECHO_TIMEOUT_MS);
    if (i >= warmup) samples.push(performance.now() - t0);
    // Readline rewraps long lines; a fresh line every 60 keys keeps each echo one character.
    if ((i + 1) % 60 === 0) {
      const before = outputs;
      socket.send(Buffer.from([0, 0x15]));
      await until(socket, () => outputs > before, "the line's erasure", ECHO_TIMEOUT_MS);
    }
  }
  socket.send(Buffer.from([0, 0x15, 0x04]));
  socket.close();
  return samples;
}

/**
 * Records, in the page, when each stdin frame leaves and when the next
 * output frame arrives: the terminal's own sockets, wrapped before the
 * dashboard's scripts run.
 */
const PAGE_PROBE = `
(() => {
  const probe = { samples: [], pending: null };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (probe.pending !== null && typeof event.data !== "string") {
          probe.samples.push(performance.now() - probe.pending);
          probe.pending = null;
        }
      });
    }
    send(data) {
      if (data instanceof Uint8Array && data[0] === 0) probe.pending = performance.now();
      return super.send(data);
    }
  };
  window.__turgonEchoProbe = probe;
})();
`;

async function echoInBrowser(
  browser: BrowserSession,
  dashboard: TestDashboard,
  path: string,
): Promise<number[]> {
  const { page } = browser;
  await page.addInitScript(PAGE_PROBE);
  await page.goto(`${dashboard.url}/signin?return=${encodeURIComponent(path)}`);
  await page.getByLabel("Email address").fill(dashboard.admin.email);
  await page.getByLabel("Password").fill(dashboard.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${dashboard.url}${path}`);
  await page.locator('[data-testid="terminal"][data-state="open"]').waitFor({ timeout: 60_000 });
  const screenText = () =>
    page.evaluate(
      `document.querySelector('[data-testid="terminal-screen"]').turgonTerminal.text()`,
    ) as Promise<string>;
  await page
    .waitForFunction(
      `/[#$] ?$/.test(document.querySelector('[data-testid="terminal-screen"]').turgonTerminal.text())`,
      undefined,
      { timeout: 60_000 },
    )
    .catch(async (error: Error) => {
      await browser.snap("no-prompt");
      throw new Error(`no prompt in the web terminal: ${JSON.stringify(await screenText())}`, {
        cause: error,
      });
    });
  await page.getByTestId("terminal-screen").click();
  const count = () => page.evaluate("window.__turgonEchoProbe.samples.length") as Promise<number>;
  for (let i = 0; i < warmup + keystrokes; i++) {
    const seen = await count();
    await page.keyboard.press("a");
    await page.waitForFunction(`window.__turgonEchoProbe.samples.length > ${seen}`, undefined, {
      timeout: ECHO_TIMEOUT_MS,
      polling: 5,
    });
    if ((i + 1) % 60 === 0) {
      const before = await count();
      await page.keyboard.press("Control+U");
      await page.waitForFunction(`window.__turgonEchoProbe.samples.length > ${before}`, undefined, {
        timeout: ECHO_TIMEOUT_MS,
        polling: 5,
      });
    }
  }
  await browser.snap("after-keystrokes");
  const all = (await page.evaluate("window.__turgonEchoProbe.samples")) as number[];
  // Every key's sample, Ctrl+U's included, in order: keep the letters after the warm-up.
  const letters = all.filter((_, i) => (i + 1) % 61 !== 0);
  return letters.slice(warmup, warmup + keystrokes);
}

/** Mints a token as the dashboard's admin, through tRPC, as the browser does. */
async function mintedUrl(dashboard: TestDashboard, namespace: string): Promise<string> {
  const signIn = await fetch(`${dashboard.url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: dashboard.url },
    body: JSON.stringify({ email: dashboard.admin.email, password: dashboard.admin.password }),
  });
  if (signIn.status !== 200) throw new Error(`sign-in: ${signIn.status} ${await signIn.text()}`);
  const cookie = signIn.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const response = await fetch(`${dashboard.url}/api/trpc/terminal.mintToken`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: dashboard.url, cookie },
    body: JSON.stringify({ json: { namespace, name: "shell" } }),
  });
  const body = (await response.json()) as { result?: { data: { json: { url: string } } } };
  if (!body.result) throw new Error(`terminal.mintToken: ${JSON.stringify(body)}`);
  return body.result.data.json.url;
}

await globalSetup();
let stack: Stack | undefined;
let dashboard: TestDashboard | undefined;
let browser: BrowserSession | undefined;
const namespace = uniqueName("bench-term");
try {
  stack = await startStack();
  await kubectl(["create", "namespace", namespace]);
  const sandbox = {
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name: "shell", namespace, labels: stack.labels },
    spec: { image: "debian-python:latest" },
  };
  await writeFile(join(stack.dir, "shell.json"), JSON.stringify(sandbox));
  await kubectl(["apply", "-f", join(stack.dir, "shell.json")]);
  browser = await openBrowser("bench-terminal");
  dashboard = await startTestDashboard({
    logFile: join(browser.artifacts, "dashboard.log"),
    routerUrl: `http://127.0.0.1:${stack.routerPort}`,
    edgeConfig: stack.edge.ref,
    ingressTokenSecret: "turgon-system/turgon-ingress-keys",
  });
  const waited = await kubectl([
    "wait",
    "sandbox/shell",
    "-n",
    namespace,
    "--for=condition=Ready",
    "--timeout=240s",
  ]);
  if (waited.exitCode !== 0) throw new Error(`the sandbox is not Ready: ${waited.tail}`);
  const uid = (
    await kubectl(["get", "sandbox", "shell", "-n", namespace, "-o", "jsonpath={.metadata.uid}"])
  ).stdout.trim();

  const agent = await echoOverSocket(
    `${String(stack.agent.ready.apiUrl).replace(/^http/, "ws")}/v1/sandboxes/${uid}/exec`,
    {
      ca: await readFile(stack.pki.ca, "utf8"),
      cert: await readFile(stack.pki.router.cert, "utf8"),
      key: await readFile(stack.pki.router.key, "utf8"),
    },
    true,
  );
  const router = await echoOverSocket(await mintedUrl(dashboard, namespace), {}, false);
  const web = await echoInBrowser(browser, dashboard, `/sandboxes/${namespace}/shell/terminal`);

  const [a, r, w] = [stats(agent), stats(router), stats(web)];
  const line = (label: string, s: Stats, n: number) =>
    `  ${label.padEnd(44)} p50 ${s.p50.toFixed(1).padStart(6)} ms   p90 ${s.p90.toFixed(1).padStart(6)} ms   max ${s.max.toFixed(1).padStart(6)} ms   (${n} keys)`;
  console.log(
    `\nKeystroke echo into bash on a pty in a TCG guest, one key in flight, ${warmup} warm-up keys dropped:`,
  );
  console.log(line("straight at the agent's exec WebSocket", a, agent.length));
  console.log(line("Node client through the router (minted token)", r, router.length));
  console.log(line("web terminal in Chromium (xterm, router)", w, web.length));
  console.log(
    `  web terminal / agent: p50 ${(w.p50 / a.p50).toFixed(2)}, p90 ${(w.p90 / a.p90).toFixed(2)}; router / agent: p50 ${(r.p50 / a.p50).toFixed(2)}, p90 ${(r.p90 / a.p90).toFixed(2)}`,
  );
  const overhead = w.p50 - a.p50;
  console.log(
    `  web terminal over the agent (the guest's own time aside): p50 +${overhead.toFixed(1)} ms (goal < 20 ms)`,
  );
  if (!(overhead < 20)) process.exitCode = 1;
} finally {
  await browser?.close();
  await dashboard?.stop();
  await kubectl(["delete", "sandbox", "shell", "-n", namespace, "--timeout=60s"]);
  await stack?.stop();
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  await globalTeardown();
}
