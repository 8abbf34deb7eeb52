/**
 * The router through the whole stack: a node agent, the operator and the
 * router as real processes, a real VM under TCG. Routed URLs, Gondolin's
 * routing rules end to end, WebSockets, access tokens, and a node agent
 * that goes away and comes back.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EXEC_AUDIT_QUEUE, type ExecAuditEvent } from "@turgon/api/audit";
import type { Sandbox } from "@turgon/api/crd";
import {
  INGRESS_COOKIE,
  INGRESS_TOKEN_PARAM,
  mintExecToken,
  mintIngressToken,
} from "@turgon/api/routing";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { GUEST_FIXTURES } from "@turgon/node-agent/testing";
import { loadTest } from "@turgon/toolkit/bench";
import { run } from "@turgon/toolkit/run";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import WebSocket from "ws";
import { eventually, type Stack, startStack } from "../testing.ts";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe("router through the whole stack", async () => {
  let stack: Stack;
  const namespace = uniqueName("rt");
  const host = (port: number) => `web--${namespace}.localhost:${port}`;
  let routerPort = 0;
  let uid = "";

  const get = (path: string, headers: Record<string, string> = {}, hostHeader = host(routerPort)) =>
    new Promise<Answer>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: routerPort, path, headers: { host: hostHeader, ...headers } },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on("error", reject);
      req.setTimeout(30_000, () => req.destroy(new Error("request timed out")));
      req.end();
    });
  const getSandbox = async () => {
    const result = await kubectl(["get", "sandbox", "web", "-n", namespace, "-o", "json"]);
    assert.equal(result.exitCode, 0, result.tail);
    return JSON.parse(result.stdout) as Sandbox;
  };
  const guestExec = async (command: string[], stdin?: string) => {
    const result = await stack.guestExec(uid, command, stdin);
    assert.equal(result.exitCode, 0, result.stderr);
  };

  before(async () => {
    stack = await startStack();
    routerPort = stack.routerPort;
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    const site = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "web", namespace, labels: stack.labels },
      spec: {
        image: "debian-python:latest",
        command: [
          "/bin/sh",
          "-c",
          "mkdir -p /srv/site && echo hi > /srv/site/hello.txt && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site",
        ],
        ingress: {
          enabled: true,
          access: "public",
          routes: [
            { prefix: "/", port: 8000 },
            { prefix: "/api", port: 9000 },
            { prefix: "/api/v2", port: 9001 },
            { prefix: "/raw", port: 9000, stripPrefix: false },
            { prefix: "/ws", port: 8765 },
          ],
        },
      },
    };
    await writeFile(join(stack.dir, "web.json"), JSON.stringify(site));
    assert.equal((await kubectl(["apply", "-f", join(stack.dir, "web.json")])).exitCode, 0);
    const ready = await eventually(
      "web Ready",
      getSandbox,
      (s) => s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      180_000,
    );
    uid = ready.metadata.uid as string;
    for (const fixture of ["echo_server.py", "ws_echo_server.py"])
      await guestExec(
        ["/bin/sh", "-c", `cat > /srv/${fixture}`],
        await readFile(join(GUEST_FIXTURES, fixture), "utf8"),
      );
    await guestExec([
      "/bin/sh",
      "-c",
      "for p in 9000 9001; do setsid python3 /srv/echo_server.py $p >/dev/null 2>&1 </dev/null & done; setsid python3 /srv/ws_echo_server.py 8765 >/dev/null 2>&1 </dev/null &",
    ]);
  });

  after(async () => {
    await stack?.stop();
  });

  it("curl http://<name>--<ns>.localhost:<port>/ returns the guest's listing", async () => {
    const url = `http://${host(routerPort)}/`;
    const listing = await eventually(
      "the listing",
      () => run("curl", ["-s", "-m", "20", url]),
      (r) => r.stdout.includes("hello.txt"),
      30_000,
    );
    assert.match(listing.stdout, /Directory listing/);
    assert.equal(
      (await getSandbox()).status?.ingress?.url,
      `http://web--${namespace}.localhost:18080/`,
    );
  });

  it("follows Gondolin's routing rules: longest prefix, strip prefix, strip_prefix=false", async () => {
    const echo = async (path: string) => {
      const answer = await eventually(
        `GET ${path}`,
        () => get(path),
        (a) => a.status === 200,
        30_000,
      );
      return JSON.parse(answer.body) as {
        port: number;
        path: string;
        headers: Record<string, string>;
      };
    };
    assert.deepEqual(await echo("/api/items?x=1").then((e) => [e.port, e.path]), [
      9000,
      "/items?x=1",
    ]);
    assert.deepEqual(await echo("/api/v2/items").then((e) => [e.port, e.path]), [9001, "/items"]);
    assert.deepEqual(await echo("/raw/items").then((e) => [e.port, e.path]), [9000, "/raw/items"]);
    const headers = (await echo("/api/h")).headers;
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(lower["x-forwarded-host"], host(routerPort));
    assert.equal(lower["x-forwarded-proto"], "http");
    assert.match(lower["x-forwarded-for"] ?? "", /127\.0\.0\.1/);
    assert.equal(
      lower["x-turgon-sandbox"],
      undefined,
      "the agent's routing header does not reach the guest",
    );
  });

  it("tunnels a WebSocket to an echo server in the guest", async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${routerPort}/ws`, {
      headers: { host: host(routerPort) },
    });
    const reply = await new Promise<string>((resolve, reject) => {
      socket.once("open", () => socket.send("ping through the router"));
      socket.once("message", (data) => resolve(String(data)));
      socket.once("error", reject);
    });
    socket.close();
    assert.equal(reply, "ping through the router");
  });

  it("answers 404 for an unknown sandbox, as JSON or a page by Accept", async () => {
    const json = await get("/", {}, `nope--${namespace}.localhost:${routerPort}`);
    assert.equal(json.status, 404);
    assert.equal(JSON.parse(json.body).error, "UnknownSandbox");
    const page = await get(
      "/",
      { accept: "text/html" },
      `nope--${namespace}.localhost:${routerPort}`,
    );
    assert.equal(page.status, 404);
    assert.match(page.body, /<h1>404 Not found<\/h1>.*no sandbox is routed at nope--/s);
  });

  it("private: refuses no token, another team's and an expired one; serves the right one; the guest never sees it; authenticated: any user", async () => {
    const patched = await kubectl([
      "patch",
      "sandbox",
      "web",
      "-n",
      namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { ingress: { access: "private" } } }),
    ]);
    assert.equal(patched.exitCode, 0, patched.tail);
    await eventually(
      "access private in force",
      getSandbox,
      (s) => s.status?.ingress?.access === "private",
      30_000,
    );
    const label = `web--${namespace}`;
    const mint = (claims: { teams?: string[]; admin?: boolean; aud?: string }, ttl = 600) =>
      mintIngressToken(stack.key, { sub: "ada", aud: claims.aud ?? label, ...claims }, ttl);
    const withCookie = async (value: string) =>
      get("/api/who", { cookie: `theme=dark; ${INGRESS_COOKIE}=${value}` });

    await eventually(
      "no token redirects to sign-in",
      () => get("/api/who"),
      (a) => a.status === 302,
      30_000,
    );
    const none = await get("/api/who");
    const signIn = new URL(String(none.headers.location));
    assert.equal(signIn.origin + signIn.pathname, "http://dashboard.localhost:3000/signin");
    assert.equal(signIn.searchParams.get("return"), `http://${host(routerPort)}/api/who`);
    assert.equal((await withCookie(await mint({ teams: ["another-team"] }))).status, 403);
    assert.equal(
      (await withCookie(await mint({ teams: [namespace] }, -60))).status,
      302,
      "expired",
    );
    assert.equal(
      (await withCookie(await mint({ teams: [namespace], aud: `other--${namespace}` }))).status,
      302,
      "another sandbox's token",
    );
    assert.equal((await withCookie("not-a-jwt")).status, 302);

    const good = await withCookie(await mint({ teams: [namespace] }));
    assert.equal(good.status, 200);
    const seen = JSON.parse(good.body) as { headers: Record<string, string> };
    const cookie = Object.entries(seen.headers).find(([k]) => k.toLowerCase() === "cookie")?.[1];
    assert.equal(cookie, "theme=dark", "the guest sees its own cookies, never the token");
    assert.equal(
      (await withCookie(await mint({ admin: true }))).status,
      200,
      "admins reach every sandbox",
    );

    // The sign-in flow returns with the token in the URL: it becomes a host-only cookie, and leaves the URL.
    const handoff = await get(
      `/api/who?a=1&${INGRESS_TOKEN_PARAM}=${await mint({ teams: [namespace] })}`,
    );
    assert.equal(handoff.status, 302);
    assert.equal(handoff.headers.location, `http://${host(routerPort)}/api/who?a=1`);
    assert.match(
      String(handoff.headers["set-cookie"]),
      new RegExp(`^${INGRESS_COOKIE}=[^;]+; Path=/; HttpOnly; SameSite=Lax; Max-Age=\\d+`),
    );

    // authenticated: any signed-in user, whatever the team; still no one anonymous.
    const toAuthenticated = await kubectl([
      "patch",
      "sandbox",
      "web",
      "-n",
      namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { ingress: { access: "authenticated" } } }),
    ]);
    assert.equal(toAuthenticated.exitCode, 0, toAuthenticated.tail);
    await eventually(
      "access authenticated in force",
      getSandbox,
      (sb) => sb.status?.ingress?.access === "authenticated",
      30_000,
    );
    assert.equal((await withCookie(await mint({ teams: ["another-team"] }))).status, 200);
    assert.equal((await get("/api/who")).status, 302);
    // Back to private for the tests that follow.
    await kubectl([
      "patch",
      "sandbox",
      "web",
      "-n",
      namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { ingress: { access: "private" } } }),
    ]);
    await eventually(
      "access private again",
      getSandbox,
      (sb) => sb.status?.ingress?.access === "private",
      30_000,
    );
  });

  it("exec at the edge: a tty session runs `tty` and `exit 3`, reports 3, and is recorded", async () => {
    const execUrl = (token: string) =>
      `ws://127.0.0.1:${routerPort}/v1/exec?token=${token}&cols=100&rows=30`;
    const refused = (token: string) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(execUrl(token));
        socket.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        socket.once("open", () => reject(new Error("the session opened")));
        socket.once("error", () => {});
      });
    const execToken = (ttl = 60) =>
      mintExecToken(stack.key, { sub: "grace", namespace, sandbox: "web" }, ttl);
    assert.equal(await refused("nothing"), 401);
    assert.equal(await refused(await execToken(-30)), 401, "expired");
    const ingressToken = await mintIngressToken(stack.key, {
      sub: "grace",
      aud: `web--${namespace}`,
      admin: true,
    });
    assert.equal(await refused(ingressToken), 401, "an ingress token cannot open a shell");

    const socket = new WebSocket(execUrl(await execToken()));
    let output = "";
    const exit = await new Promise<number>((resolve, reject) => {
      socket.on("message", (data: Buffer, binary: boolean) => {
        if (binary) {
          output += data.subarray(1).toString("utf8");
          return;
        }
        const control = JSON.parse(data.toString("utf8")) as {
          type: string;
          exitCode?: number;
          message?: string;
        };
        if (control.type === "started") {
          socket.send(Buffer.concat([Buffer.of(0), Buffer.from("tty\n")]));
          socket.send(Buffer.concat([Buffer.of(0), Buffer.from("exit 3\n")]));
        }
        if (control.type === "exit") resolve(control.exitCode as number);
        if (control.type === "error") reject(new Error(control.message));
      });
      socket.once("error", reject);
    });
    assert.equal(exit, 3);
    assert.match(output, /\/dev\/pts\/\d+/);

    const connection = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
    const queue = new Queue(EXEC_AUDIT_QUEUE, { connection });
    try {
      const event = await eventually(
        "the session's audit record",
        async () =>
          (await queue.getJobs(["waiting", "completed", "active", "delayed"])).map(
            (j) => j.data as ExecAuditEvent,
          ),
        (events) => events.some((e) => e.exitCode === 3),
        15_000,
      ).then((events) => events.find((e) => e.exitCode === 3) as ExecAuditEvent);
      assert.equal(event.user, "grace");
      assert.deepEqual(
        [event.sandbox.namespace, event.sandbox.name, event.sandbox.uid],
        [namespace, "web", uid],
      );
      assert.equal(event.reason, "exited");
      assert.equal(event.command, null, "an interactive shell");
      assert.ok(Date.parse(event.endedAt) >= Date.parse(event.startedAt));
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it("SSH: `uname -a`, exit codes and scp through the gateway; outside and unknown keys are refused", async () => {
    const patched = await kubectl([
      "patch",
      "sandbox",
      "web",
      "-n",
      namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { ssh: { enabled: true } } }),
    ]);
    assert.equal(patched.exitCode, 0, patched.tail);
    const options = [
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "LogLevel=ERROR",
    ];
    const ssh = (key: string, command: string) =>
      run("ssh", [
        "-p",
        String(stack.ssh.port),
        "-i",
        key,
        ...options,
        `web.${namespace}@127.0.0.1`,
        command,
      ]);
    const uname = await eventually(
      "ssh uname -a",
      () => ssh(stack.ssh.adminKey, "uname -a"),
      (r) => r.exitCode === 0,
      60_000,
    );
    assert.match(uname.stdout, /^Linux /);
    assert.equal((await ssh(stack.ssh.adminKey, "exit 7")).exitCode, 7);

    const local = join(stack.dir, "to-copy.txt");
    await writeFile(local, "copied through the gateway\n");
    const target = `web.${namespace}@127.0.0.1`;
    // Modern scp speaks SFTP (the sftp subsystem); -O is the legacy protocol (an exec).
    for (const [mode, path] of [
      ["sftp", "/srv/copied-sftp.txt"],
      ["legacy", "/srv/copied-legacy.txt"],
    ] as const) {
      const scp = await run("scp", [
        "-P",
        String(stack.ssh.port),
        "-i",
        stack.ssh.adminKey,
        ...options,
        ...(mode === "legacy" ? ["-O"] : []),
        local,
        `${target}:${path}`,
      ]);
      assert.equal(scp.exitCode, 0, `${mode}: ${scp.tail}`);
      assert.equal(
        (await ssh(stack.ssh.adminKey, `cat ${path}`)).stdout,
        "copied through the gateway\n",
        mode,
      );
    }

    const outside = await ssh(stack.ssh.outsiderKey, "true");
    assert.equal(outside.exitCode, 255);
    assert.match(outside.tail, /Permission denied/);
    const stranger = join(stack.dir, "stranger_key");
    assert.equal(
      (await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])).exitCode,
      0,
    );
    assert.equal((await ssh(stranger, "true")).exitCode, 255);

    // Turning SSH off live ends a session in progress instead of leaving it hanging.
    const started = performance.now();
    const long = ssh(stack.ssh.adminKey, "sleep 120");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const off = await kubectl([
      "patch",
      "sandbox",
      "web",
      "-n",
      namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { ssh: { enabled: false } } }),
    ]);
    assert.equal(off.exitCode, 0, off.tail);
    const ended = await long;
    assert.notEqual(ended.exitCode, 0);
    assert.ok(
      performance.now() - started < 60_000,
      "the session ended with SSH, not at its own end",
    );
  });

  it("serves 30 s of concurrent requests with zero errors", async () => {
    const admin = await mintIngressToken(stack.key, {
      sub: "load",
      aud: `web--${namespace}`,
      admin: true,
    });
    const result = await loadTest({
      url: `http://127.0.0.1:${routerPort}/hello.txt`,
      headers: { host: host(routerPort), cookie: `${INGRESS_COOKIE}=${admin}` },
      seconds: 30,
      concurrency: 8,
      maxRequests: 50_000,
    });
    assert.equal(result.errors, 0);
    assert.ok(result.requests > 100, `${result.requests} requests`);
  });

  it("answers quickly while the agent is down, and serves again once it is back, without a router restart", async () => {
    const admin = await mintIngressToken(stack.key, {
      sub: "ops",
      aud: `web--${namespace}`,
      admin: true,
    });
    const headers = { cookie: `${INGRESS_COOKIE}=${admin}` };
    await stack.agent.kill();
    const started = performance.now();
    const down = await get("/api/down", headers);
    assert.ok([502, 503].includes(down.status), `status ${down.status}`);
    assert.ok(performance.now() - started < 5000, "no hang");
    await stack.restartAgent();
    // The restarted agent reaped the old VM; the operator boots it again on the same node.
    const back = await eventually(
      "served again",
      () => get("/", headers),
      (a) => a.status === 200,
      120_000,
    );
    assert.match(back.body, /hello\.txt/);
  });
});
