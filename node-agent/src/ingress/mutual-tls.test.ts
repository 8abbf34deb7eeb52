/**
 * The ingress port and a sandbox's front over mutual TLS, where the caller
 * is known by its connection's certificate (read once per connection): a
 * keep-alive connection is judged by the certificate it was opened with,
 * whichever sandboxes its requests name, and no connection can renegotiate
 * to another certificate. Stand-in gateways on 127.0.0.1 take the VMs'
 * place; the agent's whole front door is in api/access.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type TLSSocket } from "node:tls";
import { SANDBOX_HEADER } from "@turgon/api/agent";
import { ensureAgentPki, impostorClientCertificate } from "@turgon/dev/testing";
import type { AgentTls } from "../api/tls.ts";
import { logger } from "../logger.ts";
import { SandboxFront } from "../supervisor/front.ts";
import { createIngressServer, type IngressLookup, type IngressSubject } from "./proxy.ts";

const log = logger.child({ test: "ingress-mtls" }, { level: "silent" });
const closers: (() => unknown)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

type Pem = { cert: string; key: string };

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** A running sandbox whose stand-in gateway answers with the sandbox's own name. */
async function sandboxServing(name: string): Promise<{ uid: string; subject: IngressSubject }> {
  const gateway = createServer((_req, res) => res.end(name));
  const port = await listen(gateway);
  const uid = randomUUID();
  const subject = {
    phase: "Running",
    desired: { uid, ingress: { enabled: true } },
    gateway: () => ({ host: "127.0.0.1", port }),
    touch: () => {},
  } as unknown as IngressSubject;
  return { uid, subject };
}

interface Answer {
  status: number;
  body: string;
  /** Whether the request went on a connection an earlier request had used. */
  reused: boolean;
}

/** A GET over `agent` (keep-alive, one connection), naming sandbox `uid`. */
function get(port: number, agent: Agent, uid: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", agent, headers: { [SANDBOX_HEADER]: uid } },
      (res: IncomingMessage) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject).end();
  });
}

describe("ingress over mutual TLS: the caller of a connection", () => {
  let ca = "";
  let serving: AgentTls;
  const identities: Record<string, Pem | undefined> = {};
  let a: { uid: string; subject: IngressSubject };
  let b: { uid: string; subject: IngressSubject };
  /** The agent's port (every sandbox of the node) and a's front (a only). */
  const ports = { agent: 0, front: 0 };

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "turgon-ingress-mtls-"));
    const pki = await ensureAgentPki(dir, "node-mtls");
    const pem = async (files: Pem) => ({
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
    });
    ca = await readFile(pki.ca, "utf8");
    serving = { ...(await pem(pki.agent)), clientCa: ca };
    identities.router = await pem(pki.router);
    identities.operator = await pem(pki.operator);
    identities["an impostor's router certificate"] = await impostorClientCertificate();
    identities["no certificate"] = undefined;
    a = await sandboxServing("a");
    b = await sandboxServing("b");
    const node: IngressLookup = (uid) =>
      uid === a.uid ? a.subject : uid === b.uid ? b.subject : undefined;
    ports.agent = await listen(
      createIngressServer({
        lookup: node,
        auth: () => ({ mode: "certificate" }),
        log,
        tls: serving,
      }),
    );
    const front = new SandboxFront({
      lookup: (uid) => (uid === a.uid ? a.subject : "misdirected"),
      log,
    });
    ports.front = await front.listen("127.0.0.1", 0);
    front.configure({ mode: "certificate", ...serving });
    closers.push(() => front.close());
  });

  /** One keep-alive connection presenting `who`'s certificate. */
  const connectionAs = (who: string) => {
    const agent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      ca,
      servername: "localhost",
      ...identities[who],
    });
    closers.push(() => agent.destroy());
    return agent;
  };

  it("serves each sandbox a router's keep-alive connection names, on the agent's port", async () => {
    const router = connectionAs("router");
    const answers = [];
    for (const uid of [a.uid, b.uid, a.uid, randomUUID()])
      answers.push(await get(ports.agent, router, uid));
    assert.deepEqual(
      answers.map(({ status, body }) => [status, body.startsWith("{") ? "refusal" : body]),
      [
        [200, "a"],
        [200, "b"],
        [200, "a"],
        [404, "refusal"],
      ],
    );
    assert.deepEqual(
      answers.map((answer) => answer.reused),
      [false, true, true, true],
      "one connection throughout",
    );
  });

  it("answers a front's connection for its own sandbox only, whatever came before on it", async () => {
    const router = connectionAs("router");
    const own = await get(ports.front, router, a.uid);
    const other = await get(ports.front, router, b.uid);
    const ownAgain = await get(ports.front, router, a.uid);
    assert.deepEqual([own.status, own.body], [200, "a"]);
    assert.equal(other.status, 421, "another sandbox, on the connection that just served a");
    assert.deepEqual([ownAgain.status, ownAgain.body], [200, "a"]);
    assert.ok(other.reused && ownAgain.reused, "one connection throughout");
  });

  it("refuses every request of a connection whose certificate is not the router's", async () => {
    for (const who of ["operator", "an impostor's router certificate", "no certificate"])
      for (const port of [ports.agent, ports.front]) {
        const connection = connectionAs(who);
        for (const uid of [a.uid, b.uid, a.uid]) {
          const answer = await get(port, connection, uid);
          assert.equal(answer.status, 401, `${who} naming a sandbox`);
        }
      }
  });

  it("refuses a TLS 1.2 client's renegotiation, closing its connection", async () => {
    for (const port of [ports.agent, ports.front]) {
      const socket: TLSSocket = connect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca,
        ...identities.router,
        maxVersion: "TLSv1.2",
      });
      closers.push(() => socket.destroy());
      await once(socket, "secureConnect");
      assert.equal(socket.getProtocol(), "TLSv1.2");
      socket.write(`GET / HTTP/1.1\r\nhost: localhost\r\n${SANDBOX_HEADER}: ${a.uid}\r\n\r\n`);
      const [first] = (await once(socket, "data")) as [Buffer];
      assert.match(first.toString("latin1"), /^HTTP\/1\.1 200 /);
      const closed = new Promise((resolve) => socket.once("close", resolve));
      const failed = new Promise<Error | undefined>((resolve) => {
        socket.once("error", resolve);
        socket.once("close", () => resolve(undefined));
      });
      socket.renegotiate({ rejectUnauthorized: true }, (error) => {
        // Only reached when the server went along: then the connection must not serve on.
        if (!error)
          socket.write(`GET / HTTP/1.1\r\nhost: localhost\r\n${SANDBOX_HEADER}: ${a.uid}\r\n\r\n`);
      });
      const error = await failed;
      assert.equal((error as NodeJS.ErrnoException | undefined)?.code, "ERR_SSL_NO_RENEGOTIATION");
      await closed;
    }
  });
});
