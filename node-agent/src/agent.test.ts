/**
 * The node agent against the real API server and real VMs: registration and
 * heartbeat, the sandbox lifecycle through the agent API and ingress port,
 * egress policy and audit, exec and SSH on one shared VM, and bad input
 * refused without side effects.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { access, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  INGRESS_TICKET_HEADER,
  SANDBOX_HEADER,
  type SandboxEvent,
  SshCredentials,
} from "@turgon/api/agent";
import { AUDIT_QUEUE, type AuditBatch, EgressAuditEvent } from "@turgon/api/audit";
import {
  type ExternalHost,
  eventually,
  installCrds,
  kubectl,
  type ScratchRedis,
  startExternalHost,
  startScratchRedis,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { Queue } from "bullmq";
import fc from "fast-check";
import { Redis } from "ioredis";
import { Client } from "ssh2";
import WebSocket, { createWebSocketStream } from "ws";
import { type RunningAgent, startAgent } from "./agent.ts";
import { loadConfig } from "./config/config.ts";
import { logger } from "./logger.ts";
import type { GuestAccess } from "./sandboxes/handle.ts";
import { sshExec } from "./ssh/testing.ts";
import {
  execFrame,
  insecureIngressHeaders,
  stopSupervisors,
  testAgentFlags,
  writeGuestFile,
} from "./testing.ts";

describe("node agent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("node");
  let agent: RunningAgent;

  const call = (method: string, path: string, body?: unknown, bearer = token) =>
    fetch(`${agent.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  /** Reads the agent's ndjson event stream until stopped. */
  const watchEvents = () => {
    const controller = new AbortController();
    const received: SandboxEvent[] = [];
    /** Called on every event read, for `stopAfter`. */
    const listeners = new Set<() => void>();
    const done = (async () => {
      try {
        const response = await fetch(`${agent.apiUrl}/v1/events`, {
          headers: { authorization: `Bearer ${token}` },
          signal: controller.signal,
        });
        let buffer = "";
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += Buffer.from(chunk).toString("utf8");
          const lines = buffer.split("\n");
          buffer = lines.pop() ?? "";
          for (const line of lines.filter(Boolean)) received.push(JSON.parse(line) as SandboxEvent);
          for (const listener of listeners) listener();
        }
      } catch {
        // aborted
      }
    })();
    return {
      /** Stops once an event matching `last` has been read (or fails after `timeoutMs`): every event read. */
      async stopAfter(last: (event: SandboxEvent) => boolean, timeoutMs = 30_000) {
        try {
          await new Promise<void>((resolve, reject) => {
            const check = () => {
              if (!received.some(last)) return;
              listeners.delete(check);
              clearTimeout(timer);
              resolve();
            };
            const timer = setTimeout(() => {
              listeners.delete(check);
              const seen = received.map((e) => `${e.type}:${e.sandbox.phase}`);
              reject(new Error(`the awaited event not within ${timeoutMs} ms; read ${seen}`));
            }, timeoutMs);
            listeners.add(check);
            check();
          });
        } finally {
          controller.abort();
          await done;
        }
        return received;
      },
    };
  };

  const quickStart = (uid: string) => ({
    uid,
    name: "quickstart",
    namespace: "team-a",
    generation: 1,
    image: testEnvironment().guestImage,
    resources: { cpus: 1, memoryMiB: 512 },
    command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/etc"],
    ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
  });

  /** GET with the request target exactly as given, through the agent's ingress port when `uid` is set. */
  const rawGet = (base: string, path: string, uid?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const { hostname, port } = new URL(base);
      const req = httpRequest(
        { host: hostname, port, path, headers: uid ? insecureIngressHeaders(token, uid) : {} },
        (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
      req.on("error", reject);
      req.end();
    });

  let redis: ScratchRedis;
  /**
   * "The internet" for egress: an external host in a network namespace of
   * the test's own, serving HTTP and answering DNS (the agent's trusted resolver).
   */
  let upstream: ExternalHost;

  before(async () => {
    await installCrds();
    redis = await startScratchRedis();
    upstream = await startExternalHost();
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    const config = loadConfig(
      testAgentFlags(dir, nodeName, redis.url, {
        "heartbeat-seconds": "1",
        cpus: "2",
        "memory-mib": "2048",
        "max-vms": "4",
        "dns-trusted-servers": upstream.address,
      }),
    );
    agent = await startAgent(config, logger.child({ test: "agent" }, { level: "warn" }));
  });

  after(async () => {
    await agent?.stop();
    if (agent) await stopSupervisors(agent.stateDir);
    await redis?.remove();
    await upstream?.stop();
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("registers its SandboxNode and keeps the heartbeat fresh", async () => {
    const listed = await kubectl(["get", "sandboxnodes", nodeName]);
    assert.equal(listed.exitCode, 0, listed.tail);
    assert.match(
      listed.stdout,
      new RegExp(
        `^NAME\\s+READY\\s+ADDRESS\\s+CPU-CAPACITY\\s+CPU-ALLOCATABLE\\s+MEMORY\\s+ACCELERATOR\\s+HEARTBEAT\\s+AGE\\n${nodeName}\\s+True\\s+${agent.apiUrl.replaceAll(".", "\\.")}\\s+2\\s+8\\s+2048Mi\\s`,
      ),
    );
    const heartbeat = async () =>
      (
        await kubectl([
          "get",
          "sandboxnode",
          nodeName,
          "-o",
          "jsonpath={.status.lastHeartbeatTime}",
        ])
      ).stdout;
    const first = await heartbeat();
    // --heartbeat-seconds 1: the next beats land within a few seconds, or the heartbeat is stuck.
    await eventually("lastHeartbeatTime advanced", heartbeat, (beat) => beat > first, 10_000);
  });

  it("runs the ingress quick start: PUT, serve through the ingress port, PUT again is a no-op, DELETE stops QEMU", async () => {
    const uid = randomUUID();
    const events = watchEvents();
    const created = await call("PUT", `/v1/sandboxes/${uid}`, quickStart(uid));
    assert.equal(created.status, 201, await created.clone().text());
    assert.equal(((await created.json()) as { outcome: string }).outcome, "created");

    const deadline = Date.now() + 120_000;
    let page: Response | undefined;
    while (Date.now() < deadline) {
      page = await fetch(`${agent.ingressUrl}/`, { headers: insecureIngressHeaders(token, uid) });
      if (page.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(page?.status, 200);
    assert.match(await (page as Response).text(), /Directory listing for \//);

    const observed = (await (await call("GET", `/v1/sandboxes/${uid}`)).json()) as {
      phase: string;
      routes: unknown[];
    };
    assert.equal(observed.phase, "Running");
    assert.deepEqual(observed.routes, [{ prefix: "/", port: 8000, stripPrefix: true }]);

    const again = await call("PUT", `/v1/sandboxes/${uid}`, quickStart(uid));
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { outcome: string }).outcome, "unchanged");

    const pid = agent.manager.get(uid)?.hostPid();
    assert.ok(pid, "the VM has a QEMU process");
    const deleted = await call("DELETE", `/v1/sandboxes/${uid}`);
    assert.equal(deleted.status, 200);
    await assert.rejects(access(`/proc/${pid}`), { code: "ENOENT" }, "the QEMU process is gone");
    assert.equal((await call("GET", `/v1/sandboxes/${uid}`)).status, 404);
    const gone = await fetch(`${agent.ingressUrl}/`, {
      headers: insecureIngressHeaders(token, uid),
    });
    assert.equal(gone.status, 404);

    // The event stream told the story in order, for the operator.
    const story = (await events.stopAfter((e) => e.type === "deleted" && e.sandbox.uid === uid))
      .filter((e) => e.sandbox.uid === uid)
      .map((e) => `${e.type}:${e.sandbox.phase}`);
    assert.deepEqual(
      [...new Set(story)],
      ["sandbox:Booting", "sandbox:Running", "sandbox:Stopping", "deleted:Stopping"],
    );
  });

  it("reports a VM whose QEMU process dies as Failed, with the reason", async () => {
    const uid = randomUUID();
    await call("PUT", `/v1/sandboxes/${uid}`, {
      ...quickStart(uid),
      name: "doomed",
      command: undefined,
    });
    const deadline = Date.now() + 120_000;
    while (agent.manager.get(uid)?.phase !== "Running" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const pid = agent.manager.get(uid)?.hostPid();
    assert.ok(pid);
    process.kill(pid, "SIGKILL");
    let observed = { phase: "", reason: "", message: "" };
    while (observed.phase !== "Failed" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      observed = (await (await call("GET", `/v1/sandboxes/${uid}`)).json()) as typeof observed;
    }
    assert.equal(observed.phase, "Failed");
    assert.equal(observed.reason, "VMExited");
    assert.match(observed.message, new RegExp(`pid ${pid}`));
    await call("DELETE", `/v1/sandboxes/${uid}`);
  });

  it("refuses bad input with a 4xx naming the field, and applies none of it", async () => {
    const uid = randomUUID();
    const otherUid = randomUUID();
    // Each message whole: the one field at fault and what is wrong with it, nothing else.
    const cases: [unknown, RegExp][] = [
      [{ ...quickStart(uid), colour: "blue" }, /^\(body\): unknown field\(s\) colour$/],
      [
        { ...quickStart(uid), resources: { cpus: 1, memoryMiB: -512 } },
        /^resources\.memoryMiB: [^;]*>=128$/,
      ],
      [
        { ...quickStart(uid), ingress: { routes: [{ prefix: "api", port: 9000 }] } },
        /^ingress\.routes\[0\]\.prefix: must start with '\/' and contain no spaces, '\?' or '#'$/,
      ],
      [
        { ...quickStart(uid), uid: otherUid },
        new RegExp(`^uid: ${otherUid} does not match the URL's ${uid}$`),
      ],
    ];
    for (const [body, field] of cases) {
      const response = await call("PUT", `/v1/sandboxes/${uid}`, body);
      assert.equal(response.status, 400);
      const error = (await response.json()) as { message: string };
      assert.match(error.message, field);
    }
    assert.equal((await call("PUT", "/v1/sandboxes/not-a-uid", quickStart(uid))).status, 400);
    const list = (await (await call("GET", "/v1/sandboxes")).json()) as { items: unknown[] };
    assert.deepEqual(list.items, [], "nothing was half-applied");
  });

  it("refuses requests without the right bearer token", async () => {
    assert.equal(
      (await call("GET", "/v1/sandboxes", undefined, "wrong-token-wrong-token")).status,
      401,
    );
    assert.equal((await fetch(`${agent.apiUrl}/v1/sandboxes`)).status, 401);
    assert.equal((await fetch(`${agent.apiUrl}/healthz`)).status, 200);
  });

  describe("egress policy and audit", () => {
    const SECRET = "agent-test-secret-9d2c41";
    /** spec.env with what shells like to mangle: quotes, $, backquotes, backslashes, newlines. */
    const GREETING = `it's "quoted" $HOME \`id\` $(id) \\n back\\slash\nsecond line\ttab %s ✓`;
    const env = { GREETING };
    const uid = randomUUID();
    /** What the upstream received, from the `from`th request on (a test's own, when it marks where it began). */
    const seen = (from = 0) =>
      upstream.received
        .slice(from)
        .map((r) => ({ url: r.url, authorization: r.headers.authorization }));
    const policy = (extra: Record<string, unknown>) => ({
      secrets: [{ name: "API_TOKEN", hosts: [upstream.address], value: SECRET }],
      policyName: "egress-test",
      ...extra,
    });
    /** curl from the guest through Gondolin's proxy; returns the HTTP status. */
    const guestCurlUrl = async (url: string, withSecret = true) => {
      const vm = agent.manager.get(uid)?.vm;
      assert.ok(vm, "the sandbox VM runs");
      const auth = withSecret ? `-H "Authorization: Bearer $API_TOKEN"` : "";
      const result = await vm.exec(
        `curl -s -o /dev/null -m 30 -x http://192.0.2.1:80 ${auth} -w '%{http_code}' '${url}'`,
      );
      return Number(result.stdout.trim());
    };
    const guestCurl = (path: string) => guestCurlUrl(`${upstream.url}${path}`);
    const auditEvents = async (): Promise<EgressAuditEvent[]> => {
      const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      const queue = new Queue(AUDIT_QUEUE, { connection });
      try {
        const jobs = await queue.getJobs([
          "waiting",
          "active",
          "completed",
          "delayed",
          "prioritized",
        ]);
        return jobs
          .flatMap((job) => (job.data as AuditBatch).lines)
          .map((line) => EgressAuditEvent.parse(JSON.parse(line)))
          .filter((event) => event.sandbox.uid === uid);
      } finally {
        await queue.close();
        connection.disconnect();
      }
    };
    /** The agent's spool segments and each supervisor's (under spool/supervisors/). */
    const spooledFiles = async () =>
      (await readdir(join(dir, "spool"), { recursive: true, withFileTypes: true }))
        .filter((f) => f.isFile() && f.name.endsWith(".ndjson"))
        .map((f) => join(f.parentPath, f.name));
    const waitForEvents = async (match: (e: EgressAuditEvent) => boolean, count: number) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const events = (await auditEvents()).filter(match);
        if (events.length >= count || Date.now() > deadline) return events;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };

    before(async () => {
      const desired = {
        ...quickStart(uid),
        name: "egress",
        command: undefined,
        env,
        policy: policy({ allowedHosts: [] }),
      };
      const created = await call("PUT", `/v1/sandboxes/${uid}`, desired);
      assert.equal(created.status, 201, await created.clone().text());
      const deadline = Date.now() + 120_000;
      while (agent.manager.get(uid)?.phase !== "Running" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal(agent.manager.get(uid)?.phase, "Running");
    });

    after(async () => {
      await call("DELETE", `/v1/sandboxes/${uid}`);
    });

    it("applies declarative ingress hooks (denied paths, header set/remove) live", async () => {
      const sandbox = agent.manager.get(uid);
      const pid = sandbox?.hostPid();
      assert.ok(sandbox?.vm);
      await writeGuestFile(
        sandbox.vm,
        "/opt/echo_server.py",
        await readFile(new URL("./vm/fixtures/echo_server.py", import.meta.url), "utf8"),
      );
      await sandbox.vm.exec("setsid python3 /opt/echo_server.py 9000 >/dev/null 2>&1 </dev/null &");
      const desired = {
        ...quickStart(uid),
        name: "egress",
        command: undefined,
        env,
        policy: policy({ allowedHosts: [] }),
        ingress: {
          enabled: true,
          routes: [{ prefix: "/", port: 9000 }],
          hooks: {
            deniedPathPrefixes: ["/admin"],
            setHeaders: { "x-added": "by-turgon" },
            removeHeaders: ["x-remove-me"],
          },
        },
      };
      const updated = await call("PUT", `/v1/sandboxes/${uid}`, desired);
      assert.equal(((await updated.json()) as { outcome: string }).outcome, "updated");
      const get = (path: string) =>
        fetch(`${agent.ingressUrl}${path}`, {
          headers: { ...insecureIngressHeaders(token, uid), "x-remove-me": "1", "x-kept": "2" },
        });
      const deadline = Date.now() + 30_000;
      let echo = await get("/echo");
      while (echo.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        echo = await get("/echo");
      }
      const seenByGuest = (await echo.json()) as { path: string; headers: Record<string, string> };
      const headers = Object.fromEntries(
        Object.entries(seenByGuest.headers).map(([k, v]) => [k.toLowerCase(), v]),
      );
      assert.equal(headers["x-added"], "by-turgon");
      assert.equal(headers["x-kept"], "2");
      assert.equal(headers["x-remove-me"], undefined);
      assert.equal(headers[SANDBOX_HEADER], undefined, "the routing header stays on the host");
      assert.equal(headers[INGRESS_TICKET_HEADER], undefined, "and so does the ticket");
      assert.equal((await get("/admin/users")).status, 403);
      assert.equal(
        (await get("/administrator")).status,
        200,
        "a prefix matches whole path segments",
      );
      // Other spellings of /admin, sent byte for byte (fetch would resolve dot segments itself).
      const bypasses = [
        "/%61dmin",
        "/ADMIN",
        "/admin%2fx",
        "/./admin",
        "//admin",
        "/x/../admin",
        "/x/%2e%2e/admin",
        "/%2561dmin",
        "/admin%zz",
      ];
      for (const path of bypasses)
        assert.equal((await rawGet(agent.ingressUrl, path, uid)).status, 403, path);
      // Gondolin's own gateway hook refuses them too (defence in depth behind the agent's port).
      const reached = sandbox.gateway();
      assert.ok(reached);
      const gateway = `http://${reached.host}:${reached.port}`;
      for (const path of ["/%61dmin", "/ADMIN", "/admin%2fx", "/x/../admin"]) {
        const answer = await rawGet(gateway, path);
        assert.deepEqual([answer.status, answer.body], [403, "forbidden\n"], path);
      }
      assert.equal((await rawGet(agent.ingressUrl, "/public/admin", uid)).status, 200);
      assert.equal(agent.manager.get(uid)?.hostPid(), pid, "no reboot");
    });

    it("tunnels WebSocket upgrades through the agent's ingress port", async () => {
      const vm = agent.manager.get(uid)?.vm;
      assert.ok(vm);
      await writeGuestFile(
        vm,
        "/opt/ws_echo_server.py",
        await readFile(new URL("./vm/fixtures/ws_echo_server.py", import.meta.url), "utf8"),
      );
      await vm.exec("setsid python3 /opt/ws_echo_server.py 9100 >/dev/null 2>&1 </dev/null &");
      vm.setIngressRoutes([
        { prefix: "/", port: 9000, stripPrefix: true },
        { prefix: "/ws", port: 9100, stripPrefix: true },
      ]);
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          const echoed = await new Promise<string>((resolve, reject) => {
            const socket = new WebSocket(`${agent.ingressUrl.replace("http", "ws")}/ws`, {
              headers: insecureIngressHeaders(token, uid),
            });
            socket.once("open", () => socket.send("through the agent"));
            socket.once("message", (data) => {
              resolve(data.toString());
              socket.close();
            });
            socket.once("error", reject);
          });
          assert.equal(echoed, "through the agent");
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    });

    it("takes a host from denied to allowed live, without a reboot", async () => {
      const pid = agent.manager.get(uid)?.hostPid();
      // Denied to begin with, whatever ran before.
      await call("PUT", `/v1/sandboxes/${uid}/policy`, policy({ allowedHosts: [] }));
      const mark = upstream.received.length;
      assert.equal(await guestCurl("/before"), 403);
      const updated = await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
      assert.equal(((await updated.json()) as { outcome: string }).outcome, "updated");
      assert.equal(await guestCurl("/after?token=query-secret"), 200);
      assert.equal(agent.manager.get(uid)?.hostPid(), pid, "same QEMU process: no reboot");
      assert.deepEqual(
        seen(mark).map((r) => r.url),
        ["/after?token=query-secret"],
      );
      assert.equal(
        seen(mark)[0]?.authorization,
        `Bearer ${SECRET}`,
        "the upstream got the real secret",
      );
      const [denied] = await waitForEvents((e) => e.path === "/before", 1);
      assert.deepEqual([denied?.decision, denied?.status], ["denied", 403]);
      assert.match(denied?.reason ?? "", /not on the allowlist/);
      const [allowed] = await waitForEvents((e) => e.path === "/after", 1);
      assert.deepEqual(
        [allowed?.decision, allowed?.status, allowed?.method, allowed?.scheme, allowed?.host],
        ["allowed", 200, "GET", "http", upstream.address],
      );
      assert.equal(allowed?.policy, "egress-test", "the event names the policy in force");
      assert.deepEqual(allowed?.secretsInjected, ["API_TOKEN"]);
    });

    it("passes uploads through whole: with Expect: 100-continue (curl's default above 1 MiB) and chunked", async () => {
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
      const vm = agent.manager.get(uid)?.vm;
      assert.ok(vm, "the sandbox VM runs");
      const upload = async (bytes: number, header: string, path: string) => {
        const file = `/tmp/upload-${bytes}`;
        const made = await vm.exec(`head -c ${bytes} /dev/urandom > ${file} && sha256sum ${file}`);
        const sha256 = made.stdout.split(/\s/)[0];
        const mark = upstream.received.length;
        const sent = await vm.exec(
          `curl -s -o /dev/null -m 120 -x http://192.0.2.1:80 -H '${header}' --data-binary @${file} -w '%{http_code}' '${upstream.url}${path}'`,
        );
        return {
          status: Number(sent.stdout.trim()),
          sha256,
          received: upstream.received.slice(mark),
        };
      };
      const expecting = await upload(3 * 1024 * 1024, "Expect: 100-continue", "/expect-upload");
      assert.equal(expecting.status, 200, "an upload that waits for 100 Continue is not refused");
      assert.deepEqual(
        expecting.received.map((r) => [r.url, r.body.bytes, r.body.sha256]),
        [["/expect-upload", 3 * 1024 * 1024, expecting.sha256]],
        "the upstream got every byte",
      );
      assert.equal(
        expecting.received[0]?.headers.expect,
        undefined,
        "Expect is the proxy's to answer",
      );
      const chunked = await upload(256 * 1024, "Transfer-Encoding: chunked", "/chunked-upload");
      assert.equal(chunked.status, 200);
      assert.deepEqual(
        chunked.received.map((r) => [r.url, r.body.bytes, r.body.sha256]),
        [["/chunked-upload", 256 * 1024, chunked.sha256]],
      );
      const [audited] = await waitForEvents((e) => e.path === "/expect-upload", 1);
      assert.deepEqual([audited?.decision, audited?.status], ["allowed", 200]);
    });

    it("in report mode lets a would-be-denied request through and audits it as such", async () => {
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [], mode: "report" }),
      );
      assert.equal(await guestCurl("/reported"), 200);
      const [event] = await waitForEvents((e) => e.path === "/reported", 1);
      assert.equal(event?.decision, "would-deny");
      assert.equal(event?.status, 200);
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
    });

    it("refuses the floor in every mode: loopback, mapped loopback, metadata, the node's own address, names that resolve to loopback", async () => {
      const agentPort = new URL(agent.apiUrl).port;
      const [a, b, c, d] = upstream.address.split(".").map(Number) as [
        number,
        number,
        number,
        number,
      ];
      const nodeOwn = `${a}.${b}.${c}.${d - 1}`;
      const targets = [
        `http://127.0.0.1:${agentPort}`,
        `http://[::ffff:127.0.0.1]:${agentPort}`,
        `http://[::1]:${agentPort}`,
        "http://169.254.169.254",
        `http://localhost:${agentPort}`,
        `http://${nodeOwn}:${agentPort}`,
        `http://2130706433:${agentPort}`,
      ];
      const modes: [string, Record<string, unknown>][] = [
        ["enforce-all-hosts", { allowedHosts: ["*"] }],
        ["report", { allowedHosts: [], mode: "report" }],
        [
          "report-internal-open",
          { allowedHosts: ["*"], mode: "report", blockInternalRanges: false },
        ],
      ];
      for (const [name, rules] of modes) {
        await call("PUT", `/v1/sandboxes/${uid}/policy`, policy(rules));
        for (const [index, target] of targets.entries()) {
          const status = await guestCurlUrl(`${target}/floor-${name}-${index}`, false);
          assert.equal(status, 403, `${name}: ${target} answers 403`);
        }
        // The upstream outside is still reachable in the same mode: the floor is not a blanket refusal.
        assert.equal(await guestCurlUrl(`${upstream.url}/floor-${name}-outside`), 200, name);
      }
      // A secret's placeholder sent where the secret may not go is refused, and audited so.
      assert.equal(await guestCurlUrl("http://127.0.0.1:9/floor-secret"), 403);
      const events = await waitForEvents(
        (e) => e.path.startsWith("/floor-"),
        modes.length * (targets.length + 1),
      );
      for (const [name] of modes) {
        for (const index of targets.keys()) {
          const event = events.find((e) => e.path === `/floor-${name}-${index}`);
          assert.equal(
            event?.decision,
            "denied",
            `${name} ${targets[index]}: ${JSON.stringify(event)}`,
          );
          assert.match(event?.reason ?? "", /refused in every mode/, `${name} ${targets[index]}`);
        }
      }
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
    });

    it("enforces network.websockets: false on a guest's WebSocket upgrade, live", async () => {
      const wsUpgrade = `curl -s -o /dev/null -m 20 -x http://192.0.2.1:80 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -w '%{http_code}' '${upstream.url}/ws-PATH'`;
      const vm = agent.manager.get(uid)?.vm;
      assert.ok(vm);
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address], websockets: false }),
      );
      // Gondolin ends a refused upgrade without a response: curl sees an empty reply.
      const refused = await vm.exec(wsUpgrade.replace("PATH", "denied"));
      assert.ok(["403", "000"].includes(refused.stdout.trim()), refused.stdout);
      assert.ok(!upstream.received.some((r) => r.url === "/ws-denied"), "never reached the host");
      const [event] = await waitForEvents((e) => e.path === "/ws-denied", 1);
      assert.deepEqual(
        [event?.decision, event?.reason],
        ["denied", "WebSockets are denied (network.websockets is false)"],
      );
      // Allowed again live: the upgrade reaches the external host (a plain HTTP server, which answers 200).
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
      const allowed = await vm.exec(wsUpgrade.replace("PATH", "allowed"));
      assert.notEqual(allowed.stdout.trim(), "403", "no longer refused by policy");
      assert.ok(
        upstream.received.some((r) => r.url === "/ws-allowed"),
        "the upgrade reached the host",
      );
    });

    it("gives the guest the DNS that network.dns.mode asks for: synthetic by default, the node's trusted resolver on request", async () => {
      const lookup = async (vm: GuestAccess) =>
        (await vm.exec(["getent", "ahostsv4", "probe.turgon.test"])).stdout.split(/\s/)[0];
      const vm = agent.manager.get(uid)?.vm;
      assert.ok(vm);
      const synthetic = await lookup(vm);
      assert.ok(synthetic && synthetic !== upstream.address, `synthetic answer ${synthetic}`);

      const trustedUid = randomUUID();
      const trusted = {
        ...quickStart(trustedUid),
        name: "dns-trusted",
        command: undefined,
        policy: { allowedHosts: [], dns: { mode: "trusted" } },
      };
      assert.equal((await call("PUT", `/v1/sandboxes/${trustedUid}`, trusted)).status, 201);
      try {
        const deadline = Date.now() + 120_000;
        while (agent.manager.get(trustedUid)?.phase !== "Running" && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 250));
        const trustedVm = agent.manager.get(trustedUid)?.vm;
        assert.ok(trustedVm, "the trusted-DNS sandbox runs");
        assert.equal(await lookup(trustedVm), upstream.address, "answered by the trusted resolver");
        // The guest's resolver is set when its network starts: changing the mode reboots, and says so.
        const changed = await call("PUT", `/v1/sandboxes/${trustedUid}/policy`, {
          allowedHosts: [],
        });
        assert.equal(((await changed.json()) as { outcome: string }).outcome, "rebooting");
      } finally {
        await call("DELETE", `/v1/sandboxes/${trustedUid}`);
      }
    });

    it("keeps secrets out of the guest, the spool and the audit events", async () => {
      // A request of its own that carries the secret and a query string, so there is something to leak.
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
      const mark = upstream.received.length;
      assert.equal(await guestCurl("/secret-check?token=query-secret"), 200);
      assert.deepEqual(seen(mark), [
        { url: "/secret-check?token=query-secret", authorization: `Bearer ${SECRET}` },
      ]);
      const [carried] = await waitForEvents((e) => e.path === "/secret-check", 1);
      assert.deepEqual(carried?.secretsInjected, ["API_TOKEN"]);
      const vm = agent.manager.get(uid)?.vm;
      const env = await vm?.exec("env; tr '\\0' '\\n' < /proc/1/environ");
      assert.ok(env?.stdout.includes("API_TOKEN="), "the guest has the placeholder");
      assert.ok(!env?.stdout.includes(SECRET), "but never the value");
      await agent.spool.sync();
      const spooled = await spooledFiles();
      assert.ok(spooled.length > 0, "the spools were read");
      for (const path of spooled)
        assert.ok(!(await readFile(path, "utf8")).includes(SECRET), `spool ${path}`);
      const events = await auditEvents();
      assert.ok(events.length > 0);
      assert.ok(!JSON.stringify(events).includes(SECRET));
      assert.ok(!JSON.stringify(events).includes("query-secret"), "no query strings");
    });

    /** Runs an interactive exec over the WebSocket; `script` drives it once started. */
    /** With `errors`, error frames are collected there instead of failing the session. */
    const wsExec = (
      start: Record<string, unknown>,
      script: (socket: WebSocket) => void,
      errors?: string[],
    ) =>
      new Promise<{ out: string; err: string; exitCode?: number }>((resolve, reject) => {
        const socket = new WebSocket(
          `${agent.apiUrl.replace("http", "ws")}/v1/sandboxes/${uid}/exec`,
          {
            headers: { authorization: `Bearer ${token}` },
          },
        );
        const result: { out: string; err: string; exitCode?: number } = { out: "", err: "" };
        socket.on("open", () => socket.send(JSON.stringify({ type: "start", ...start })));
        socket.on("message", (data: Buffer, isBinary: boolean) => {
          if (isBinary) {
            if (data[0] === 1) result.out += data.subarray(1).toString();
            if (data[0] === 2) result.err += data.subarray(1).toString();
            return;
          }
          const message = JSON.parse(data.toString()) as {
            type: string;
            exitCode?: number;
            message?: string;
          };
          if (message.type === "started") script(socket);
          if (message.type === "exit") result.exitCode = message.exitCode;
          if (message.type === "error")
            errors ? errors.push(message.message ?? "") : reject(new Error(message.message));
        });
        socket.on("close", () => resolve(result));
        socket.on("error", reject);
      });
    const stdin = (socket: WebSocket, text: string) =>
      socket.send(Buffer.concat([Buffer.of(0), Buffer.from(text)]));

    it("execs a shell with a pty over a WebSocket: tty, resize and the exit code", async () => {
      const result = await wsExec(
        { command: ["/bin/sh"], tty: true, cols: 80, rows: 24 },
        (socket) => {
          socket.send(JSON.stringify({ type: "resize", cols: 123, rows: 45 }));
          stdin(socket, "tty; stty size; exit 3\n");
        },
      );
      assert.equal(result.exitCode, 3);
      assert.match(result.out, /\/dev\/pts\/\d+/);
      assert.match(result.out, /45 123/);
    });

    it("keeps stdout and stderr apart without a pty, and passes stdin through", async () => {
      const result = await wsExec({ command: ["/bin/sh", "-c", "cat; echo err >&2"] }, (socket) => {
        stdin(socket, "from stdin\n");
        socket.send(JSON.stringify({ type: "eof" }));
      });
      assert.deepEqual(result, { out: "from stdin\n", err: "err\n", exitCode: 0 });
    });

    it("survives malformed exec frames: random, truncated, text and binary", async (t) => {
      const seed = Number(process.env.TURGON_FUZZ_SEED ?? Date.now() % 2 ** 31);
      t.diagnostic(`fuzz seed ${seed} (TURGON_FUZZ_SEED=${seed} reproduces it)`);
      const frames = fc.sample(execFrame, { seed, numRuns: 300 });
      const errors: string[] = [];
      // One session takes every well-formed-UTF-8 frame: it answers errors and goes on.
      const session = await wsExec(
        { command: ["/bin/sh", "-c", "cat >/dev/null; echo done"] },
        (socket) => {
          for (const frame of frames) socket.send(frame.data, { binary: frame.binary });
          socket.send(JSON.stringify({ type: "eof" }));
        },
        errors,
      );
      assert.equal(session.exitCode, 0, "the session ended normally");
      assert.equal(session.out, "done\n");
      assert.ok(errors.length > 0, "bad control frames were answered with error frames");
      // A bad first frame, or text that is not UTF-8, ends that session and nothing else.
      const starts = fc.sample(execFrame, { seed: seed + 1, numRuns: 20 });
      for (const first of [...starts, { data: Buffer.from([0xff, 0xfe, 0x7b]), binary: false }]) {
        const socket = new WebSocket(
          `${agent.apiUrl.replace("http", "ws")}/v1/sandboxes/${uid}/exec`,
          {
            headers: { authorization: `Bearer ${token}` },
          },
        );
        await new Promise<void>((resolve, reject) => {
          socket.once("open", () => socket.send(first.data, { binary: first.binary }));
          socket.once("close", () => resolve());
          socket.once("error", reject);
          setTimeout(
            () => reject(new Error("a bad first frame did not end its session")),
            30_000,
          ).unref();
        });
      }
      assert.equal((await fetch(`${agent.apiUrl}/healthz`)).status, 200, "the agent is still up");
      const after = await wsExec({ command: ["/bin/echo", "still serving"] }, () => {});
      assert.deepEqual(after, { out: "still serving\n", err: "", exitCode: 0 });
    });

    it("runs one-shot commands and refuses bad ones, naming the field", async () => {
      const once = await call("POST", `/v1/sandboxes/${uid}/exec`, { command: "echo hi; exit 7" });
      assert.deepEqual(await once.json(), { exitCode: 7, stdout: "hi\n", stderr: "" });
      const bad = await call("POST", `/v1/sandboxes/${uid}/exec`, { command: [], timeoutMs: 5 });
      assert.equal(bad.status, 400);
      assert.match(
        ((await bad.json()) as { message: string }).message,
        /command.*timeoutMs|timeoutMs.*command/s,
      );
      const anonymous = new WebSocket(
        `${agent.apiUrl.replace("http", "ws")}/v1/sandboxes/${uid}/exec`,
      );
      const status = await new Promise<number>((resolve) =>
        anonymous.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)),
      );
      anonymous.on("error", () => {});
      anonymous.terminate();
      assert.equal(status, 401);
    });

    /** Runs one command over an SSH connection (no pty): its stdout and exit code. */
    const clientExec = (client: Client, command: string) =>
      new Promise<{ out: string; code: number }>((resolve, reject) => {
        client.exec(command, (error, channel) => {
          if (error) return reject(error);
          let out = "";
          channel.on("data", (chunk: Buffer) => {
            out += chunk.toString();
          });
          channel.on("close", (code: number) => resolve({ out, code }));
        });
      });
    /** Types `input` into an interactive login shell with a pty; everything it printed until it exited. */
    const clientShell = (client: Client, input: string) =>
      new Promise<string>((resolve, reject) => {
        client.shell({ term: "dumb", cols: 200, rows: 24 }, (error, channel) => {
          if (error) return reject(error);
          let out = "";
          const timer = setTimeout(() => channel.close(), 30_000);
          channel.on("data", (chunk: Buffer) => {
            out += chunk.toString();
          });
          channel.on("close", () => {
            clearTimeout(timer);
            resolve(out);
          });
          channel.write(input);
        });
      });

    /** Opens the SSH tunnel WebSocket; resolves with it open, or with the HTTP status that refused it. */
    const openTunnel = (bearer?: string) =>
      new Promise<WebSocket | number>((resolve, reject) => {
        const socket = new WebSocket(
          `${agent.apiUrl.replace("http", "ws")}/v1/sandboxes/${uid}/ssh/tunnel`,
          bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {},
        );
        socket.once("open", () => resolve(socket));
        socket.once("unexpected-response", (_req, res) => {
          socket.on("error", () => {});
          socket.terminate();
          resolve(res.statusCode ?? 0);
        });
        socket.once("error", reject);
      });

    it("turns SSH on live: credentials, a tunnel an SSH client runs commands through, and off again live", async (t) => {
      const sandbox = agent.manager.get(uid);
      assert.ok(sandbox);
      const pid = sandbox.hostPid();
      const startedAt = sandbox.observe().startedAt;
      const credentials = () => call("GET", `/v1/sandboxes/${uid}/ssh/credentials`);
      const errorOf = async (response: Response) =>
        ((await response.json()) as { error: string }).error;

      let response = await credentials();
      assert.equal(response.status, 404);
      assert.equal(await errorOf(response), "SshDisabled");
      assert.equal(await openTunnel(token), 404, "no tunnel while SSH is off");
      response = await call("GET", `/v1/sandboxes/${randomUUID()}/ssh/credentials`);
      assert.equal(response.status, 404);
      assert.equal(await errorOf(response), "NotFound");

      /** Polls the credentials while SSH is starting (409 SshStarting). */
      const credentialsOnceStarted = async () => {
        const deadline = Date.now() + 60_000;
        let response = await credentials();
        while (response.status === 409 && Date.now() < deadline) {
          assert.equal(await errorOf(response), "SshStarting");
          await new Promise((resolve) => setTimeout(resolve, 250));
          response = await credentials();
        }
        return response;
      };
      const put = (enabled: boolean) =>
        call("PUT", `/v1/sandboxes/${uid}`, { ...sandbox.desired, ssh: { enabled } });
      const enabledAt = performance.now();
      response = await put(true);
      assert.equal(((await response.json()) as { outcome: string }).outcome, "updated");
      response = await credentialsOnceStarted();
      assert.equal(response.status, 200, await response.clone().text());
      t.diagnostic(`SSH enabled live in ${Math.round(performance.now() - enabledAt)} ms`);
      const { user, privateKey } = SshCredentials.parse(await response.json());
      assert.equal(user, "root");
      assert.match(privateKey, /BEGIN OPENSSH PRIVATE KEY/);

      assert.equal(
        (await fetch(`${agent.apiUrl}/v1/sandboxes/${uid}/ssh/credentials`)).status,
        401,
      );
      assert.equal(await openTunnel(), 401, "no tunnel without the token");
      assert.equal(await openTunnel("wrong-token-wrong-token"), 401);

      const socket = await openTunnel(token);
      assert.ok(socket instanceof WebSocket);
      const tunnelClosed = new Promise<number>((resolve) => socket.once("close", resolve));
      const client = new Client();
      // ssh2 emits "close" only when its socket is destroyed, which a WebSocket stream is not on a close.
      const clientEnded = new Promise<void>((resolve) => client.once("end", () => resolve()));
      t.after(() => {
        client.destroy();
        socket.terminate();
      });
      const connectedAt = performance.now();
      await new Promise<void>((resolve, reject) => {
        client.once("ready", () => resolve());
        client.once("error", reject);
        client.connect({
          sock: createWebSocketStream(socket) as never,
          username: user,
          privateKey,
          readyTimeout: 60_000,
        });
      });
      t.diagnostic(
        `SSH handshake through the tunnel in ${Math.round(performance.now() - connectedAt)} ms`,
      );
      const before = sandbox.observe().lastActivityAt;
      const uname = await clientExec(client, "uname -a");
      assert.equal(uname.code, 0);
      assert.match(uname.out, /^Linux /);

      // The sandbox's env in SSH sessions, as in exec: spec.env verbatim, secret placeholders only.
      assert.deepEqual(await clientExec(client, 'echo "$GREETING"'), {
        out: `${GREETING}\n`,
        code: 0,
      });
      const placeholder = (await sandbox.vm?.exec(["/bin/sh", "-c", 'printf %s "$API_TOKEN"']))
        ?.stdout;
      assert.ok(placeholder, "exec sees the secret's placeholder");
      const overSsh = await clientExec(client, 'printf %s "$API_TOKEN"');
      assert.equal(overSsh.out, placeholder, "SSH sees the same placeholder");
      assert.ok(!overSsh.out.includes(SECRET), "never the value");
      // An interactive login shell with a pty: compare a digest, as a pty rewrites newlines.
      const digest = createHash("sha256").update(GREETING).digest("hex");
      const shell = await clientShell(client, `printf '%s' "$GREETING" | sha256sum; exit\n`);
      assert.ok(shell.includes(digest), `interactive shell output: ${shell}`);
      // lastActivityAt moves at most once a second: more traffic until it has moved, bounded.
      await eventually(
        "tunnel traffic counts as activity",
        async () => {
          await clientExec(client, "true");
          return sandbox.observe().lastActivityAt ?? "";
        },
        (at) => at > (before ?? ""),
        10_000,
      );

      // Off again, live: the open session ends, credentials and tunnel are refused.
      response = await put(false);
      assert.equal(((await response.json()) as { outcome: string }).outcome, "updated");
      response = await credentials();
      assert.equal(response.status, 404);
      assert.equal(await errorOf(response), "SshDisabled");
      assert.equal(await tunnelClosed, 1001, "the agent closed the open tunnel");
      await clientEnded;
      client.destroy();
      assert.equal(await openTunnel(token), 404);
      assert.equal(sandbox.hostPid(), pid, "same QEMU process: no reboot");
      assert.equal(sandbox.observe().startedAt, startedAt);
      assert.equal(sandbox.phase, "Running");
      assert.equal(sandbox.sshState().state, "off");

      // On again in the same VM: Gondolin installs a new key for the sshd already running.
      assert.equal(((await (await put(true)).json()) as { outcome: string }).outcome, "updated");
      response = await credentialsOnceStarted();
      const again = SshCredentials.parse(await response.json());
      assert.notEqual(again.privateKey, privateKey, "a fresh key pair");
      assert.deepEqual(await sshExec({ apiUrl: agent.apiUrl, token, uid, command: "echo again" }), {
        stdout: "again\n",
        code: 0,
      });
      assert.deepEqual(
        await sshExec({ apiUrl: agent.apiUrl, token, uid, command: 'echo "$GREETING"' }),
        { stdout: `${GREETING}\n`, code: 0 },
        "the env again after SSH is turned on again",
      );
    });

    it("injects a secret name added to the running VM live: new execs and SSH sessions get its placeholder, its hosts the value; removing it stops the substitution", async () => {
      const sandbox = agent.manager.get(uid);
      assert.ok(sandbox);
      const pid = sandbox.hostPid();
      const startedAt = sandbox.observe().startedAt;
      const ADDED = "added-secret-value-5e81c0";
      const apiToken = { name: "API_TOKEN", hosts: [upstream.address], value: SECRET };
      const putPolicy = async (secrets: Record<string, unknown>[]) => {
        const response = await call(
          "PUT",
          `/v1/sandboxes/${uid}/policy`,
          policy({ allowedHosts: [upstream.address], secrets }),
        );
        assert.ok(response.status < 300, await response.clone().text());
        return ((await response.json()) as { outcome: string }).outcome;
      };
      const guest = async (script: string) =>
        (await sandbox.vm?.exec(["/bin/sh", "-c", script]))?.stdout ?? "";
      const curlWith = async (header: string, path: string) =>
        Number(
          await guest(
            `curl -s -o /dev/null -m 30 -x http://192.0.2.1:80 -H "${header}" -w '%{http_code}' '${upstream.url}${path}'`,
          ),
        );
      const received = (path: string) => upstream.received.filter((r) => r.url === path);
      /** A script printing the variable's value, or "unset". */
      const printUnlessUnset = (name: string) => `printf %s "\${${name}-unset}"`;
      // SSH on, so the rewrite of its sessions' env is seen too; as it was, after.
      const sshWasOn = sandbox.desired.ssh.enabled;
      const setSsh = (enabled: boolean) =>
        call("PUT", `/v1/sandboxes/${uid}`, { ...sandbox.desired, ssh: { enabled } });
      if (!sshWasOn) assert.equal((await setSsh(true)).status, 200);
      const sshPrint = async (name: string) => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          try {
            return (
              await sshExec({
                apiUrl: agent.apiUrl,
                token,
                uid,
                command: printUnlessUnset(name),
              })
            ).stdout;
          } catch (error) {
            // SSH still starting (credentials 409) right after it was turned on.
            if (Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
      };

      assert.ok(["updated", "unchanged"].includes(await putPolicy([apiToken])));
      const apiPlaceholder = await guest('printf %s "$API_TOKEN"');
      assert.equal(await guest(printUnlessUnset("NEW_TOKEN")), "unset");
      assert.equal(await sshPrint("NEW_TOKEN"), "unset");

      // Added: no reboot; new execs see a placeholder, never the value.
      const added = { name: "NEW_TOKEN", hosts: [upstream.address], value: ADDED };
      assert.equal(await putPolicy([apiToken, added]), "updated");
      assert.deepEqual(sandbox.observe().secretNames, ["API_TOKEN", "NEW_TOKEN"]);
      const placeholder = await guest('printf %s "$NEW_TOKEN"');
      assert.ok(placeholder.length > 0 && placeholder !== "unset", "a new exec sees the secret");
      assert.ok(!placeholder.includes(ADDED), "as a placeholder, never the value");
      assert.equal(
        await guest('printf %s "$API_TOKEN"'),
        apiPlaceholder,
        "the secret already there keeps its placeholder",
      );
      // SSH sessions source a file the agent rewrites after the change: poll, bounded.
      let overSsh = await sshPrint("NEW_TOKEN");
      for (let i = 0; i < 40 && overSsh !== placeholder; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        overSsh = await sshPrint("NEW_TOKEN");
      }
      assert.equal(overSsh, placeholder, "a new SSH session sees the same placeholder");

      // Its host gets the real value; the secret already there is still substituted.
      assert.equal(await curlWith("Authorization: Bearer $NEW_TOKEN", "/added"), 200);
      assert.equal(received("/added").at(-1)?.headers.authorization, `Bearer ${ADDED}`);
      assert.equal(await curlWith("Authorization: Bearer $API_TOKEN", "/kept"), 200);
      assert.equal(received("/kept").at(-1)?.headers.authorization, `Bearer ${SECRET}`);
      const [injected] = await waitForEvents((e) => e.path === "/added", 1);
      assert.deepEqual(injected?.secretsInjected, ["NEW_TOKEN"]);

      // Scoped elsewhere (live, in place): a request to this host with it is refused.
      const elsewhere = { ...added, hosts: ["elsewhere.example"] };
      assert.equal(await putPolicy([apiToken, elsewhere]), "updated");
      assert.equal(await curlWith("Authorization: Bearer $NEW_TOKEN", "/misdirected"), 403);
      assert.deepEqual(received("/misdirected"), [], "nothing reached the host");
      const [refused] = await waitForEvents((e) => e.path === "/misdirected", 1);
      assert.match(refused?.reason ?? "", /secret NEW_TOKEN may not be sent/);

      // Removed: new execs and sessions lose it; its placeholder substitutes nothing.
      assert.equal(await putPolicy([apiToken]), "updated");
      assert.deepEqual(sandbox.observe().secretNames, ["API_TOKEN"]);
      assert.equal(await guest(printUnlessUnset("NEW_TOKEN")), "unset");
      let gone = await sshPrint("NEW_TOKEN");
      for (let i = 0; i < 40 && gone !== "unset"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        gone = await sshPrint("NEW_TOKEN");
      }
      assert.equal(gone, "unset", "a new SSH session no longer has it");
      assert.equal(await curlWith(`Authorization: Bearer ${placeholder}`, "/removed"), 200);
      assert.equal(
        received("/removed").at(-1)?.headers.authorization,
        `Bearer ${placeholder}`,
        "the placeholder went out as it is, not the value",
      );

      assert.equal(sandbox.hostPid(), pid, "same QEMU process: no reboot");
      assert.equal(sandbox.observe().startedAt, startedAt);
      for (const r of upstream.received)
        if (r.url !== "/added")
          assert.ok(!JSON.stringify(r.headers).includes(ADDED), `${r.url} got the value`);
      await agent.spool.sync();
      for (const path of await spooledFiles())
        assert.ok(!(await readFile(path, "utf8")).includes(ADDED), `spool ${path}`);
      if (!sshWasOn) assert.equal((await setSsh(false)).status, 200);
    });

    it("exposes Prometheus metrics: VMs by phase, boot time, egress by decision, ingress latency", async () => {
      const scrape = () => fetch(`${agent.apiUrl}/metrics`).then((r) => r.text());
      /** A series' value in a scrape; 0 while it has no sample. */
      const value = (text: string, series: string) =>
        Number(
          text
            .split("\n")
            .find((l) => l.startsWith(`${series} `))
            ?.slice(series.length + 1) ?? 0,
        );
      const denied = 'turgon_agent_egress_requests_total{decision="denied"}';
      const wouldDeny = 'turgon_agent_egress_requests_total{decision="would-deny"}';
      const served = 'turgon_agent_ingress_request_seconds_count{code="200"}';
      const before = await scrape();
      // This test makes what it counts: one denied and one would-deny request, one served through ingress.
      await call("PUT", `/v1/sandboxes/${uid}/policy`, policy({ allowedHosts: [] }));
      assert.equal(await guestCurl("/metrics-denied"), 403);
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [], mode: "report" }),
      );
      assert.equal(await guestCurl("/metrics-would-deny"), 200);
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
      const vm = agent.manager.get(uid)?.vm;
      assert.ok(vm);
      await vm.exec(
        "setsid python3 -m http.server 9300 --bind 127.0.0.1 --directory /etc >/dev/null 2>&1 </dev/null &",
      );
      vm.setIngressRoutes([{ prefix: "/", port: 9300, stripPrefix: true }]);
      await eventually(
        "a page through the ingress port",
        () => fetch(`${agent.ingressUrl}/`, { headers: insecureIngressHeaders(token, uid) }),
        (page) => page.status === 200,
        30_000,
      );
      // Egress is counted as the agent ships the supervisor's audit spool (within a second or so).
      const text = await eventually(
        "the egress requests counted",
        scrape,
        (now) =>
          value(now, denied) > value(before, denied) &&
          value(now, wouldDeny) > value(before, wouldDeny),
        30_000,
      );
      assert.match(text, /^turgon_agent_vms\{phase="Running"\} 1$/m);
      assert.match(text, /^turgon_agent_vm_boot_seconds_count [1-9]\d*$/m);
      assert.equal(value(text, denied), value(before, denied) + 1, denied);
      assert.equal(value(text, wouldDeny), value(before, wouldDeny) + 1, wouldDeny);
      assert.ok(value(text, served) > value(before, served), served);
    });

    it("delivers exactly N distinct events after Redis comes back", async () => {
      const N = 6;
      await call(
        "PUT",
        `/v1/sandboxes/${uid}/policy`,
        policy({ allowedHosts: [upstream.address] }),
      );
      const backlog = async () => {
        const text = await fetch(`${agent.apiUrl}/metrics`).then((r) => r.text());
        return Number(/^turgon_agent_audit_backlog_bytes (\S+)$/m.exec(text)?.[1]);
      };
      await redis.stop();
      for (let i = 0; i < N; i++) assert.equal(await guestCurl(`/burst-${i}`), 200);
      // The supervisor flushes its spool every 100 ms: the backlog shows them then.
      const waiting = await eventually(
        "the backlog metric counts the spooled events",
        backlog,
        (b) => b > 0,
        10_000,
      );
      assert.ok(waiting > N * 200, `${waiting} bytes for ${N} events`);
      await redis.start();
      const events = await waitForEvents((e) => e.path.startsWith("/burst-"), N);
      await eventually("the backlog drains to 0", backlog, (b) => b === 0, 30_000);
      assert.equal(events.length, N);
      assert.equal(new Set(events.map((e) => e.id)).size, N);
      assert.deepEqual(
        events.map((e) => e.path).sort(),
        Array.from({ length: N }, (_, i) => `/burst-${i}`).sort(),
      );
    });
  });
});
