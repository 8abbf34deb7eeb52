/**
 * The agent benchmark's fast-backend case (issue 16, item 4): a host-side
 * HTTP server stands in for a VM's Gondolin gateway, so the numbers are what
 * the agent's ingress adds and not what TCG allows. The same closed-loop load
 * (64 keep-alive connections unless told) goes, one path after another:
 *   - straight at the backend;
 *   - through the agent's ingress port, over mutual TLS with the router's
 *     certificate, as the router reaches it;
 *   - through a sandbox's front (a supervisor's port), the same way.
 * The backend and the ingress servers run in child processes of their own
 * (as the gateway, the agent and a supervisor do), so the load generator
 * does not share their event loops; all of them share this machine's cores.
 *
 * Called from agent-ingress.ts (`npm run bench:agent`); alone:
 *   node node-agent/bench/fast-backend.ts [--seconds 10] [--concurrency 64]
 * Loopback only; bounded in time and count.
 */

import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SANDBOX_HEADER } from "@turgon/api/agent";
import { ensureAgentPki } from "@turgon/dev/testing";
import { type LoadResult, loadTest } from "@turgon/toolkit/bench";
import type { AgentTls } from "../src/api/tls.ts";
import { createIngressServer, type IngressSubject } from "../src/ingress/proxy.ts";
import { logger } from "../src/logger.ts";
import { SandboxFront } from "../src/supervisor/front.ts";

const BODY = "fast backend: a stand-in for the guest\n";
const MAX_REQUESTS = 2_000_000;

/** What a child process tells its parent once it serves. */
type Serving = { ports: Record<string, number> };

/** Child: the stand-in gateway, a plain HTTP server answering a small body. */
async function serveBackend(): Promise<Serving> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" }).end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { ports: { backend: (server.address() as AddressInfo).port } };
}

/** Child: the agent's ingress port and one sandbox's front, both in front of the backend. */
async function serveIngress(backendPort: number, uid: string, tls: AgentTls): Promise<Serving> {
  const log = logger.child({ bench: "fast-backend" }, { level: "warn" });
  const sandbox = {
    phase: "Running",
    desired: { uid, ingress: { enabled: true } },
    gateway: () => ({ host: "127.0.0.1", port: backendPort }),
    touch: () => {},
  } as unknown as IngressSubject;
  const agent = createIngressServer({
    lookup: (id) => (id === uid ? sandbox : undefined),
    auth: () => ({ mode: "certificate" }),
    log,
    tls,
  });
  agent.listen(0, "127.0.0.1");
  await once(agent, "listening");
  const front = new SandboxFront({
    lookup: (id) => (id === uid ? sandbox : "misdirected"),
    log,
  });
  const frontPort = await front.listen("127.0.0.1", 0);
  front.configure({ mode: "certificate", ...tls });
  return { ports: { agent: (agent.address() as AddressInfo).port, front: frontPort } };
}

/** Starts this module as a child in `role`; resolves with what it serves. */
async function child(
  role: string,
  args: string[],
): Promise<{ process: ChildProcess; serving: Serving }> {
  const process = fork(fileURLToPath(import.meta.url), ["--role", role, ...args], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const timer = setTimeout(() => process.kill("SIGKILL"), 60_000);
  try {
    const [serving] = (await Promise.race([
      once(process, "message"),
      once(process, "exit").then(([code]) => {
        throw new Error(`the ${role} process exited with ${code} before serving`);
      }),
    ])) as [Serving];
    return { process, serving };
  } finally {
    clearTimeout(timer);
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; USER_HZ is 100). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU time per successful request (µs) the backend's and the ingress servers' processes used in a run. */
type Measured = LoadResult & { cpuMicros: { backend: number; ingress: number } };

const line = (label: string, r: LoadResult) =>
  `  ${label.padEnd(34)} ${r.perSecond.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   ${r.requests} ok, ${r.errors} errors`;
const ratio = (label: string, r: LoadResult, base: LoadResult) =>
  `  ${label.padEnd(34)} throughput ${(r.perSecond / base.perSecond).toFixed(2)}×, p50 +${(r.p50 - base.p50).toFixed(2)} ms, p99 +${(r.p99 - base.p99).toFixed(2)} ms`;

/** Runs the case; returns the lines to print and whether every request succeeded. */
export async function fastBackendCase(options: {
  seconds: number;
  concurrency: number;
}): Promise<{ lines: string[]; ok: boolean }> {
  const { seconds, concurrency } = options;
  const dir = await mkdtemp(join(tmpdir(), "turgon-bench-fast-"));
  const children: ChildProcess[] = [];
  try {
    const pki = await ensureAgentPki(dir, "bench");
    const ca = await readFile(pki.ca, "utf8");
    const uid = randomUUID();
    const backend = await child("backend", []);
    children.push(backend.process);
    const backendPort = String(backend.serving.ports.backend);
    const ingress = await child("ingress", ["--backend-port", backendPort, "--uid", uid, dir]);
    children.push(ingress.process);
    // As the router reaches them: TLS with its client certificate, naming the sandbox.
    const asRouter = {
      headers: { [SANDBOX_HEADER]: uid },
      tls: {
        ca,
        cert: await readFile(pki.router.cert, "utf8"),
        key: await readFile(pki.router.key, "utf8"),
        servername: "localhost",
      },
    };
    const targets = {
      backend: { url: `http://127.0.0.1:${backendPort}/` },
      agent: { url: `https://127.0.0.1:${ingress.serving.ports.agent}/`, ...asRouter },
      front: { url: `https://127.0.0.1:${ingress.serving.ports.front}/`, ...asRouter },
    };
    const run = (target: { url: string }, forSeconds: number, connections = concurrency) =>
      loadTest({
        ...target,
        seconds: forSeconds,
        concurrency: connections,
        maxRequests: MAX_REQUESTS,
      });
    const pids = [backend.process.pid, ingress.process.pid];
    const measured = async (target: { url: string }): Promise<Measured> => {
      const before = await Promise.all(pids.map(cpuSeconds));
      const result = await run(target, seconds);
      const after = await Promise.all(pids.map(cpuSeconds));
      const per = (i: number) =>
        (((after[i] ?? 0) - (before[i] ?? 0)) / Math.max(1, result.requests)) * 1e6;
      return { ...result, cpuMicros: { backend: per(0), ingress: per(1) } };
    };
    // Warm every path (pools, JIT) before measuring.
    for (const target of Object.values(targets)) await run(target, 1);
    const straight = await measured(targets.backend);
    const viaAgent = await measured(targets.agent);
    const viaFront = await measured(targets.front);
    // One connection: the latency each hop adds without requests queueing for the CPU.
    const unloaded: LoadResult[] = [];
    for (const target of [targets.backend, targets.agent, targets.front])
      unloaded.push(await run(target, Math.min(seconds, 3), 1));
    const [one, oneAgent, oneFront] = unloaded as [LoadResult, LoadResult, LoadResult];
    const cpu = (r: Measured) =>
      `backend ${r.cpuMicros.backend.toFixed(0)} µs, agent port or front ${r.cpuMicros.ingress.toFixed(0)} µs`;
    const lines = [
      `fast backend (a host-side HTTP server in place of the VM's gateway), ${concurrency} connections, ${seconds} s each, mutual TLS as the router:`,
      line("straight at the backend", straight),
      line("through the agent's ingress port", viaAgent),
      line("through the sandbox's front", viaFront),
      ratio("agent port / backend", viaAgent, straight),
      ratio("front / backend", viaFront, straight),
      `  one connection, p50: backend ${one.p50.toFixed(2)} ms, through the agent's port +${(oneAgent.p50 - one.p50).toFixed(2)} ms, through the front +${(oneFront.p50 - one.p50).toFixed(2)} ms`,
      "  CPU per request (other load on the machine disturbs this less than req/s):",
      `    straight at the backend:          ${cpu(straight)}`,
      `    through the agent's ingress port: ${cpu(viaAgent)}`,
      `    through the sandbox's front:      ${cpu(viaFront)}`,
    ];
    return { lines, ok: straight.errors + viaAgent.errors + viaFront.errors === 0 };
  } finally {
    for (const process of children) process.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      role: { type: "string" },
      "backend-port": { type: "string" },
      uid: { type: "string" },
      seconds: { type: "string", default: "10" },
      concurrency: { type: "string", default: "64" },
    },
  });
  // A child ends cleanly on SIGTERM, so --cpu-prof (through NODE_OPTIONS) writes its profile.
  if (values.role) process.once("SIGTERM", () => process.exit(0));
  if (values.role === "backend") process.send?.(await serveBackend());
  else if (values.role === "ingress") {
    const dir = positionals[0] as string;
    const pki = await ensureAgentPki(dir, "bench");
    const tls: AgentTls = {
      cert: await readFile(pki.agent.cert, "utf8"),
      key: await readFile(pki.agent.key, "utf8"),
      clientCa: await readFile(pki.ca, "utf8"),
    };
    process.send?.(await serveIngress(Number(values["backend-port"]), values.uid as string, tls));
  } else {
    const { lines, ok } = await fastBackendCase({
      seconds: Number(values.seconds),
      concurrency: Number(values.concurrency),
    });
    console.log(lines.join("\n"));
    process.exit(ok ? 0 : 1);
  }
}
