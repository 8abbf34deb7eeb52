/**
 * Wake on request through the whole stack (agent, operator, router as real
 * processes, a real VM under TCG): idleTimeout suspends a sandbox with
 * wakeOnRequest instead of deleting it; requests its access refuses do not
 * wake it; one admitted GET (five at once) wakes it once and is answered by
 * the app; past a router's bound the answer is 503 + Retry-After, and
 * beyond its held-request cap 503 at once. One cold boot, two resumes.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Sandbox } from "@turgon/api/crd";
import { INGRESS_COOKIE, mintIngressToken } from "@turgon/api/routing";
import { routerFlags, toArgs } from "@turgon/dev/stack";
import { eventually, kubectl, uniqueName } from "@turgon/dev/testing";
import {
  type RunningProcess,
  type Stack,
  startProcess,
  startStack,
} from "@turgon/operator/testing";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

describe("wake on request through the whole stack", () => {
  let stack: Stack;
  const namespace = uniqueName("wake");
  const label = `app--${namespace}`;
  /** A second router with a tiny bound and cap, for the refusals past them. */
  let tight: RunningProcess | undefined;

  const send = (
    port: number,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path,
          headers: { host: `${label}.localhost:${port}`, ...headers },
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (body += chunk));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              ms: performance.now() - started,
            }),
          );
        },
      );
      req.on("error", reject);
      // Above the router's own bound (50 s): the router answers first.
      req.setTimeout(90_000, () => req.destroy(new Error("request timed out")));
      req.end();
    });
  const get = (path: string, headers: Record<string, string> = {}) =>
    send(stack.routerPort, path, headers);
  /** The raw answer to a WebSocket upgrade (101 or the router's refusal). */
  const upgrade = (headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const port = stack.routerPort;
      const req = request({
        host: "127.0.0.1",
        port,
        path: "/",
        headers: {
          host: `${label}.localhost:${port}`,
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          ...headers,
        },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("upgrade", (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
  const getSandbox = async () => {
    const result = await kubectl(["get", "sandbox", "app", "-n", namespace, "-o", "json"]);
    assert.equal(result.exitCode, 0, result.tail);
    return JSON.parse(result.stdout) as Sandbox;
  };
  const patch = async (spec: Record<string, unknown>) => {
    const result = await kubectl([
      "patch",
      "sandbox",
      "app",
      "-n",
      namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec }),
    ]);
    assert.equal(result.exitCode, 0, result.tail);
  };
  const suspended = (s: Sandbox) =>
    s.spec.operatingMode === "Suspended" && s.status?.phase === "Suspended";
  /** One sample of a router's metrics: the sum of `name`'s series whose labels contain `labels`. */
  const metric = async (metricsUrl: string, name: string, labels = "") => {
    const text = await (await fetch(metricsUrl)).text();
    let sum = 0;
    for (const line of text.split("\n"))
      if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(labels))
        sum += Number(line.split(" ").at(-1));
    return sum;
  };
  const routerMetrics = () => String(stack.router.ready.metrics);
  /** What the sandbox and the components say, for a failure's message. */
  const diagnosis = async () => {
    const sandbox = await getSandbox();
    const tail = (lines: string[]) =>
      lines
        .slice(-15)
        .map((l) => l.slice(0, 400))
        .join("\n");
    return [
      JSON.stringify({ spec: sandbox.spec, status: sandbox.status }, null, 1),
      `router:\n${tail(stack.router.lines)}`,
      `operator:\n${tail(stack.operator.lines)}`,
      `agent:\n${tail(stack.agent.lines)}`,
    ].join("\n");
  };
  const cookieFor = async (teams: string[]) =>
    `${INGRESS_COOKIE}=${await mintIngressToken(stack.key, { sub: "grace", aud: label, teams })}`;

  before(async () => {
    stack = await startStack();
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    const app = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "app", namespace, labels: stack.labels },
      spec: {
        image: "debian-python:latest",
        command: [
          "/bin/sh",
          "-c",
          "mkdir -p /srv/site && echo awake > /srv/site/hello.txt && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site",
        ],
        ingress: { enabled: true, access: "private", routes: [{ prefix: "/", port: 8000 }] },
        lifecycle: { idleTimeout: "5s", wakeOnRequest: true },
      },
    };
    await writeFile(join(stack.dir, "app.json"), JSON.stringify(app));
    assert.equal((await kubectl(["apply", "-f", join(stack.dir, "app.json")])).exitCode, 0);
  });

  after(async () => {
    await tight?.stop();
    await stack?.stop();
  });

  it("idleTimeout with wakeOnRequest suspends the sandbox (operatingMode: Suspended, event IdleSuspended), not deletes it", async () => {
    await eventually("app Ready once", getSandbox, (s) => s.status?.phase === "Running", 180_000);
    const asleep = await eventually("app idle-suspended", getSandbox, suspended, 180_000);
    assert.equal(asleep.status?.ingress?.wakeOnRequest, true, "mirrored for the router");
    const events = await kubectl([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      "reason=IdleSuspended",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.match(events.stdout, /no ingress or exec activity for 5s; suspending the sandbox/);
    const table = await kubectl(["get", "sandbox", "app", "-n", namespace]);
    assert.match(table.stdout, /\bapp\s+Suspended\b/);
    // From here on only requests wake it.
    await patch({ lifecycle: { idleTimeout: "1h", wakeOnRequest: true } });
  });

  it("a request its access refuses does not wake it (no sign-in: 302, WebSocket 401; another team: 403); without wakeOnRequest even an admitted one gets 503 Suspended", async () => {
    await eventually(
      "the router sees wakeOnRequest (a stranger is sent to sign in, not told Suspended)",
      () => get("/hello.txt"),
      (a) => a.status === 302,
      30_000,
    );
    const stranger = await get("/hello.txt", { cookie: await cookieFor(["another-team"]) });
    assert.equal(stranger.status, 403, stranger.body);
    assert.equal(await upgrade(), 401);
    // Turned off: Suspended before any access check, as for every suspended sandbox.
    await patch({ lifecycle: { wakeOnRequest: false } });
    await eventually(
      "the router sees wakeOnRequest: false",
      () => get("/hello.txt"),
      (a) => a.status === 503,
      30_000,
    );
    const member = await get("/hello.txt", { cookie: await cookieFor([namespace]) });
    assert.equal(member.status, 503, member.body);
    assert.equal(JSON.parse(member.body).error, "Suspended");
    assert.equal(member.headers["retry-after"], "30");
    // Any wake would have been written by now (the two patches above came after it).
    const after = await getSandbox();
    assert.ok(suspended(after), JSON.stringify(after.spec));
    assert.equal(await metric(routerMetrics(), "turgon_router_wakes_total"), 0);
    assert.equal(await metric(routerMetrics(), "turgon_router_wake_held_requests_total"), 0);
    await patch({ lifecycle: { wakeOnRequest: true } });
    await eventually(
      "wakeOnRequest back on",
      () => get("/hello.txt"),
      (a) => a.status === 302,
    );
  });

  it("five GETs at once: one wake (Suspended→Running by the router), each answered by the app with 200 within the bound", async () => {
    const cookie = await cookieFor([namespace]);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => get("/hello.txt", { cookie })),
    );
    for (const answer of answers)
      assert.equal(`${answer.status} ${answer.body}`, "200 awake\n", await diagnosis());
    const slowest = Math.max(...answers.map((a) => a.ms));
    console.log(
      `wake: five GETs answered 200 in ${answers.map((a) => Math.round(a.ms)).join(", ")} ms`,
    );
    assert.ok(slowest < 50_000, `within the router's 50 s bound: ${Math.round(slowest)} ms`);
    const awake = await getSandbox();
    assert.equal(awake.spec.operatingMode, "Running");
    assert.equal(awake.status?.phase, "Running");
    assert.equal(
      await metric(routerMetrics(), "turgon_router_wakes_total", 'outcome="resumed"'),
      1,
      "one patch for five requests",
    );
    assert.equal(
      await metric(routerMetrics(), "turgon_router_wake_held_requests_total", 'outcome="served"'),
      5,
    );
    const table = await kubectl(["get", "sandbox", "app", "-n", namespace]);
    assert.match(table.stdout, /\bapp\s+Running\b/);
  });

  it("past the bound 503 WakeTimeout + Retry-After, beyond the per-sandbox cap 503 WakeQueueFull at once; the wake still completes", async () => {
    await patch({ operatingMode: "Suspended" });
    await eventually("suspended by hand", getSandbox, suspended, 120_000);
    // The stack router's flags without its SSH gateway, and a 3 s bound with room for one request.
    const {
      "ssh-port": _port,
      "ssh-host-key-file": _key,
      "ssh-users-secret": _users,
      ...flags
    } = routerFlags({
      kubeconfig: join(stack.dir, "turgon-router.kubeconfig"),
      access: { pki: stack.pki },
      port: 0,
      metricsPort: 0,
      edgeConfig: stack.edge.ref,
      signInUrl: "http://dashboard.localhost:3000/signin",
      redisUrl: stack.redisUrl,
      ssh: { port: 0, hostKeyFile: "", usersSecret: "" },
      selector: stack.selector,
      extra: { "wake-timeout-seconds": "3", "wake-max-held-per-sandbox": "1" },
    });
    tight = await startProcess("router", toArgs(flags), "router started");
    const port = Number(new URL(String(tight.ready.url)).port);
    const tightMetrics = String(tight.ready.metrics);
    const cookie = await cookieFor([namespace]);
    const first = send(port, "/hello.txt", { cookie });
    await eventually(
      "the first request held",
      () => metric(tightMetrics, "turgon_router_wake_held_requests"),
      (n) => n === 1,
      2_500,
      50,
    );
    const second = await send(port, "/hello.txt", { cookie });
    assert.equal(second.status, 503, second.body);
    assert.equal(JSON.parse(second.body).error, "WakeQueueFull");
    assert.equal(second.headers["retry-after"], "5");
    const timedOut = await first;
    assert.equal(timedOut.status, 503, timedOut.body);
    assert.equal(JSON.parse(timedOut.body).error, "WakeTimeout");
    assert.equal(timedOut.headers["retry-after"], "5");
    assert.ok(timedOut.ms >= 2_900, `held for the bound: ${Math.round(timedOut.ms)} ms`);
    assert.equal(
      await metric(tightMetrics, "turgon_router_wake_held_requests_total", 'outcome="timeout"'),
      1,
    );
    assert.equal(
      await metric(tightMetrics, "turgon_router_wake_held_requests_total", 'outcome="full"'),
      1,
    );
    // The tight router's wake went on without its client: the stack's router serves once it is up.
    const served = await get("/hello.txt", { cookie });
    assert.equal(`${served.status} ${served.body}`, "200 awake\n", await diagnosis());
  });
});
