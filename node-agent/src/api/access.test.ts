/**
 * Who may call a node agent, tried as an attacker would: every route of the
 * API with no credential, a wrong one, another node's, and spellings of the
 * path that a prefix check would miss (encoded, absolute-form, dot
 * segments), over HTTP and WebSocket upgrades; and the ingress port, which
 * only the router may use to pick a sandbox. Agents run in-process on the
 * simulated runtime: what is under test is the agent's front door, not a guest.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import {
  DesiredSandbox,
  INGRESS_TICKET_HEADER,
  SANDBOX_HEADER,
  signIngressTicket,
} from "@turgon/api/agent";
import {
  type AgentPkiFiles,
  ensureAgentPki,
  impostorClientCertificate,
  installCrds,
  kubectl,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { Agent, request } from "undici";
import { type RunningAgent, startAgent } from "../agent.ts";
import { ConfigError, loadConfig } from "../config/config.ts";
import { logger } from "../logger.ts";
import { stopSupervisors, testAgentFlags } from "../testing.ts";
import { SIMULATED_RESPONSE } from "../vm/simulated.ts";

type Pem = { cert: string; key: string };

/** One raw HTTP/1.1 exchange, so the request target goes out exactly as written. */
function rawRequest(
  url: string,
  options: {
    method?: string;
    target: string;
    headers?: Record<string, string>;
    tls?: { ca: string } & Partial<Pem>;
  },
): Promise<number> {
  const { hostname, port } = new URL(url);
  const head = [
    `${options.method ?? "GET"} ${options.target} HTTP/1.1`,
    `host: ${hostname}:${port}`,
    "connection: close",
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ].join("\r\n");
  return new Promise((resolve, reject) => {
    const socket = options.tls
      ? tlsConnect({ host: hostname, port: Number(port), servername: "localhost", ...options.tls })
      : netConnect({ host: hostname, port: Number(port) });
    let answer = "";
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${options.target}`)));
    socket.on(options.tls ? "secureConnect" : "connect", () => socket.write(`${head}\r\n\r\n`));
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (status) {
        resolve(Number(status[1]));
        socket.destroy();
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`connection closed without a status: ${answer}`)));
  });
}

const UPGRADE = {
  connection: "Upgrade",
  upgrade: "websocket",
  "sec-websocket-version": "13",
  "sec-websocket-key": randomBytes(16).toString("base64"),
};

describe("node agent access", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-access-"));
  const pkiDir = join(dir, "pki");
  const nodeA = uniqueName("access-a");
  const nodeB = uniqueName("access-b");
  const nodeInsecure = uniqueName("access-insecure");
  const token = randomBytes(24).toString("hex");
  const uid = randomUUID();
  const other = randomUUID();
  let agentA: RunningAgent;
  let agentB: RunningAgent;
  let insecure: RunningAgent;
  let pki: AgentPkiFiles;
  let ca = "";
  const identities: Record<string, Pem> = {};

  const start = async (node: string, files?: AgentPkiFiles) => {
    const config = loadConfig(
      testAgentFlags(
        join(dir, node),
        node,
        testEnvironment().redisUrl,
        { runtime: "simulated", "simulated-boot-ms": "0" },
        files,
      ),
    );
    return startAgent(config, logger.child({ test: "access" }, { level: "error" }));
  };
  const sandbox = (id: string) => ({
    uid: id,
    name: `s-${id.slice(0, 8)}`,
    namespace: "team-a",
    generation: 1,
    image: "not-in-any-store:simulated",
    resources: { cpus: 1, memoryMiB: 256 },
    ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
    // The simulated runtime refuses SSH, so the credentials route answers 409 to callers it lets in.
    ssh: { enabled: true },
  });
  const tlsAs = (who?: string) => ({ ca, ...(who ? identities[who] : {}) });

  before(async () => {
    await installCrds();
    pki = await ensureAgentPki(pkiDir, nodeA);
    const pkiB = await ensureAgentPki(pkiDir, nodeB);
    ca = await readFile(pki.ca, "utf8");
    const pem = async (files: { cert: string; key: string }) => ({
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
    });
    identities.operator = await pem(pki.operator);
    identities.router = await pem(pki.router);
    identities["node B's own certificate"] = await pem(pkiB.agent);
    identities["an impostor's operator certificate"] = await impostorClientCertificate();
    await writeFile(join(dir, "token"), token);
    agentA = await start(nodeA, pki);
    agentB = await start(nodeB, pkiB);
    await mkdir(join(dir, nodeInsecure), { recursive: true });
    await writeFile(join(dir, nodeInsecure, "token"), token);
    insecure = await start(nodeInsecure);
    for (const agent of [agentA, insecure]) {
      await agent.manager.put(DesiredSandbox.parse(sandbox(uid)));
      await agent.manager.put(DesiredSandbox.parse(sandbox(other)));
    }
    const deadline = Date.now() + 10_000;
    while (
      agentA.manager.get(uid)?.phase !== "Running" ||
      insecure.manager.get(other)?.phase !== "Running"
    ) {
      if (Date.now() > deadline) throw new Error("simulated sandboxes did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(async () => {
    for (const agent of [agentA, agentB, insecure]) {
      await agent?.stop();
      if (agent) await stopSupervisors(agent.stateDir);
    }
    for (const node of [nodeA, nodeB, nodeInsecure])
      await kubectl(["delete", "sandboxnode", node, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  /** The route's path with a real sandbox in it. */
  const concrete = (url: string) => url.replace(":uid", uid);

  it("has a caller list on every route, and only health, readiness and metrics are open", () => {
    const open = agentA.routes
      .filter((r) => r.callers === "anyone")
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(open.sort(), [
      "GET /healthz",
      "GET /metrics",
      "GET /readyz",
      "HEAD /healthz",
      "HEAD /metrics",
      "HEAD /readyz",
    ]);
    for (const route of agentA.routes)
      assert.ok(
        route.callers === "anyone" || route.callers.length > 0,
        `${route.method} ${route.url} says who may call it`,
      );
  });

  it("refuses every closed route to no certificate, an impostor's and another node's, over HTTP and WebSocket", async () => {
    const closed = agentA.routes.filter((r) => r.callers !== "anyone");
    assert.ok(closed.length >= 10, `found ${closed.length} closed routes`);
    for (const route of closed) {
      for (const who of [
        undefined,
        "an impostor's operator certificate",
        "node B's own certificate",
      ]) {
        for (const headers of [{}, UPGRADE]) {
          const status = await rawRequest(agentA.apiUrl, {
            method: route.method,
            target: concrete(route.url),
            headers: { ...headers, "content-type": "application/json", "content-length": "0" },
            tls: tlsAs(who),
          });
          assert.equal(
            status,
            401,
            `${route.method} ${route.url} as ${who ?? "nobody"}${headers === UPGRADE ? " (upgrade)" : ""}`,
          );
        }
      }
    }
  });

  it("refuses encoded, absolute-form, dot-segment and doubled-slash spellings of the API's paths", async () => {
    const spellings = [
      "/%761/sandboxes",
      "/v%31/sandboxes",
      `/%761/sandboxes/${uid}/ssh/credentials`,
      `/%76%31/sandboxes/${uid}/exec`,
      `http://x${agentA.apiUrl.replace(/^https?:\/\/[^/]+/, "")}/v1/sandboxes`,
      "http://attacker.example/v1/sandboxes",
      "/v1/../v1/sandboxes",
      "/healthz/../v1/sandboxes",
      "/./v1/sandboxes",
      "//v1/sandboxes",
      "/v1//sandboxes",
      "/V1/sandboxes",
      "/v1/sandboxes/",
      "/v1/sandboxes?x=/healthz",
      "/v1/events",
    ];
    for (const target of spellings) {
      for (const method of ["GET", "POST", "PUT", "DELETE"]) {
        const status = await rawRequest(agentA.apiUrl, {
          method,
          target,
          tls: tlsAs(),
          headers: { "content-length": "0" },
        });
        assert.equal(status, 401, `${method} ${target} without a certificate`);
      }
      const insecureStatus = await rawRequest(insecure.apiUrl, { target });
      assert.equal(insecureStatus, 401, `GET ${target} without a token`);
      const wrongToken = await rawRequest(insecure.apiUrl, {
        target,
        headers: { authorization: "Bearer wrong-token-wrong-token-wrong" },
      });
      assert.equal(wrongToken, 401, `GET ${target} with a wrong token`);
    }
    // The POST exec that ran a command for anyone before.
    const exec = await rawRequest(agentA.apiUrl, {
      method: "POST",
      target: `/%761/sandboxes/${uid}/exec`,
      headers: { "content-type": "application/json", "content-length": "20" },
      tls: tlsAs(),
    });
    assert.equal(exec, 401);
  });

  it("lets the operator call everything and the router only exec and SSH; health stays open", async () => {
    const status = (target: string, who?: string, method = "GET") =>
      rawRequest(agentA.apiUrl, {
        method,
        target,
        tls: tlsAs(who),
        headers: { "content-length": "0" },
      });
    assert.equal(await status("/healthz"), 200);
    assert.equal(await status("/metrics"), 200);
    assert.equal(await status("/v1/sandboxes", "operator"), 200);
    assert.equal(
      await status("/%761/sandboxes", "operator"),
      200,
      "an encoded path reaches the same route, authenticated",
    );
    assert.equal(await status(`/v1/sandboxes/${uid}`, "router"), 403);
    assert.equal(await status("/v1/sandboxes", "router"), 403);
    assert.equal(await status(`/v1/sandboxes/${uid}`, "router", "DELETE"), 403);
    assert.equal(
      await status(`/v1/sandboxes/${uid}/ssh/credentials`, "router"),
      409,
      "allowed; the simulated runtime has no SSH",
    );
    assert.equal(await status("/v1/no-such-route", "operator"), 404);
    assert.equal(
      await status("/v1/no-such-route"),
      401,
      "an unknown path tells nobody it does not exist",
    );
    assert.equal(agentA.manager.get(uid)?.phase, "Running", "no refused DELETE took effect");
  });

  it("refuses node A's credential on node B's agent", async () => {
    const pkiA = pki;
    const aAsClient = {
      cert: await readFile(pkiA.agent.cert, "utf8"),
      key: await readFile(pkiA.agent.key, "utf8"),
    };
    assert.equal(
      await rawRequest(agentB.apiUrl, { target: "/v1/sandboxes", tls: { ca, ...aAsClient } }),
      401,
    );
    assert.equal(
      await rawRequest(agentB.apiUrl, { target: "/v1/sandboxes", tls: tlsAs("operator") }),
      200,
    );
  });

  it("lets only the router pick a sandbox on the ingress port", async () => {
    const ingress = (who: string | undefined, id: string, headers: Record<string, string> = {}) =>
      rawRequest(agentA.ingressUrl, {
        target: "/",
        tls: tlsAs(who),
        headers: { [SANDBOX_HEADER]: id, ...headers },
      });
    assert.equal(await ingress(undefined, uid), 401);
    assert.equal(await ingress("an impostor's operator certificate", uid), 401);
    assert.equal(await ingress("node B's own certificate", uid), 401);
    assert.equal(await ingress("operator", uid), 401, "not even the operator picks sandboxes");
    assert.equal(await ingress(undefined, uid, UPGRADE), 401, "nor on a WebSocket upgrade");
    assert.equal(await ingress("router", uid), 200);
    assert.equal(await ingress("router", randomUUID()), 404);
    const page = await fetchWithCertificate(
      agentA.ingressUrl,
      { [SANDBOX_HEADER]: uid },
      tlsAs("router"),
    );
    assert.equal(page, SIMULATED_RESPONSE);
  });

  it("on an --insecure agent's ingress, takes a fresh ticket for exactly that sandbox", async () => {
    const ingress = (id: string, ticket?: string) =>
      rawRequest(insecure.ingressUrl, {
        target: "/",
        headers: { [SANDBOX_HEADER]: id, ...(ticket ? { [INGRESS_TICKET_HEADER]: ticket } : {}) },
      });
    assert.equal(await ingress(uid), 401, "no ticket");
    assert.equal(
      await ingress(uid, signIngressTicket(token, uid)),
      200,
      "with its ticket, proxied",
    );
    assert.equal(
      await ingress(other, signIngressTicket(token, uid)),
      401,
      "one sandbox's ticket does not open another",
    );
    assert.equal(
      await ingress(uid, signIngressTicket(token, uid, Date.now() - 120_000)),
      401,
      "expired",
    );
    assert.equal(
      await ingress(uid, signIngressTicket("another-agents-token-xyz", uid)),
      401,
      "another key",
    );
    assert.equal(await ingress(uid, "9999999999.AAAA"), 401, "garbage");
    assert.equal(await ingress(uid, `${signIngressTicket(token, uid)}x`), 401, "tampered");
  });

  it("refuses to serve without TLS unless told --insecure, naming the flags", () => {
    const base = ["--node-name", "n"];
    assert.throws(
      () => loadConfig(base, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--tls-cert-file/.test(error.message) &&
        /--client-ca-file/.test(error.message) &&
        /--insecure true/.test(error.message),
    );
    assert.throws(
      () => loadConfig([...base, "--insecure", "true"], {}),
      (error: unknown) =>
        error instanceof ConfigError && /--token-file .*bearer token/.test(error.message),
    );
    assert.throws(
      () =>
        loadConfig(
          [...base, "--insecure", "true", "--token-file", "/t", "--tls-cert-file", "/c"],
          {},
        ),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--tls-cert-file .*does not go with --insecure/.test(error.message),
    );
    assert.throws(
      () => loadConfig([...base, "--insecure", "yes"], {}),
      (error: unknown) =>
        error instanceof ConfigError && /--insecure .*must be true or false/.test(error.message),
    );
    assert.equal(
      loadConfig([...base, "--insecure", "true", "--token-file", "/t"], {}).insecure,
      true,
    );
  });

  it("advertises https in its SandboxNode", async () => {
    assert.match(agentA.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(agentA.ingressUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const spec = await kubectl([
      "get",
      "sandboxnode",
      nodeA,
      "-o",
      "jsonpath={.spec.address} {.spec.ingressAddress}",
    ]);
    assert.equal(spec.stdout, `${agentA.apiUrl} ${agentA.ingressUrl}`);
  });
});

/** A GET's body over TLS with a client certificate. */
async function fetchWithCertificate(
  url: string,
  headers: Record<string, string>,
  tls: { ca: string } & Partial<Pem>,
) {
  const dispatcher = new Agent({ connect: { ...tls, servername: "localhost" } });
  try {
    const response = await request(url, { headers, dispatcher });
    return await response.body.text();
  } finally {
    await dispatcher.close();
  }
}
