/**
 * Router benchmark (issue: router; issue 16 item 4). Closed-loop load for a
 * bounded time and count, requests/s and latency p50/p99, errors, and the
 * ratios from the same run, in two cases:
 *
 *   1. Fast backend (`--fast-seconds`, `--fast-concurrency`, default 10 s at
 *      64 connections): an agent on the simulated runtime, whose sandboxes'
 *      ingress is one host-side loopback HTTP server in the agent's process
 *      (a stand-in for the guest, so no TCG caps the rate). Straight at that
 *      server, through the agent's ingress port, and through router + agent.
 *      Simulated sandboxes have no supervisor front (they live in the agent's
 *      process), so the path measured is router → agent port → backend.
 *      Goal (issue 16): router + agent add ≤ 1 ms p50 and keep ≥ 0.8× the
 *      backend's req/s.
 *   2. TCG guest (`--seconds`, `--concurrency`, default 30 s at 8): python
 *      http.server in a real VM, straight at the agent's ingress port and
 *      through the router.
 *   3. Wake on request (`--wake-samples`, default 3): the first GET after a
 *      suspend, held by the router while it resumes the sandbox, next to a
 *      plain resume (bench/wake.ts).
 *
 * Every process (load, router, agent, backend) shares this machine's cores,
 * so the fast case measures CPU cost as much as latency; it also prints the
 * CPU time the agent's and the router's processes used per request, which
 * other load on the machine disturbs less than req/s.
 *
 * Usage: node router/bench/router.ts [--seconds 30] [--concurrency 8]
 *   [--fast-seconds 10] [--fast-concurrency 64] [--wake-samples 3]
 *   [--skip-fast] [--skip-tcg] [--skip-wake]
 * (`npm run bench:router`). Loopback only; bounded in time and count.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import type { Sandbox } from "@turgon/api/crd";
import { kubectl, testEnvironment } from "@turgon/dev/testing";
import { globalSetup, globalTeardown } from "@turgon/dev/testing/platform";
import { eventually, SIMULATED_RESPONSE, type Stack, startStack } from "@turgon/operator/testing";
import { type LoadResult, loadTest } from "@turgon/toolkit/bench";
import { request } from "undici";
import { wakeBench } from "./wake.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    concurrency: { type: "string", default: "8" },
    "fast-seconds": { type: "string", default: "10" },
    "fast-concurrency": { type: "string", default: "64" },
    "skip-fast": { type: "boolean", default: false },
    "skip-tcg": { type: "boolean", default: false },
    "wake-samples": { type: "string", default: "3" },
    "skip-wake": { type: "boolean", default: false },
  },
});
const MAX_REQUESTS = 1_000_000;

type Target = Parameters<typeof loadTest>[0];

/** Applies a Sandbox in the stack's scope and waits (bounded) until it is Ready. */
async function readySandbox(
  stack: Stack,
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
): Promise<Sandbox> {
  await kubectl(["create", "namespace", namespace]);
  const sandbox = {
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace, labels: stack.labels },
    spec,
  };
  const file = join(stack.dir, `${name}.json`);
  await writeFile(file, JSON.stringify(sandbox));
  await kubectl(["apply", "-f", file]);
  return eventually(
    "sandbox Ready",
    async () =>
      JSON.parse(
        (await kubectl(["get", "sandbox", name, "-n", namespace, "-o", "json"])).stdout,
      ) as Sandbox,
    (s) => s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    180_000,
  );
}

/** The two Turgon paths to one sandbox: through the router, and straight at the agent's ingress port. */
async function paths(stack: Stack, sandbox: Sandbox): Promise<{ router: Target; agent: Target }> {
  const { name, namespace } = sandbox.metadata as { name: string; namespace: string };
  const host = `${name}--${namespace}.localhost:${stack.routerPort}`;
  const common = { seconds: 0, concurrency: 0, maxRequests: MAX_REQUESTS };
  return {
    router: { ...common, url: `http://127.0.0.1:${stack.routerPort}/`, headers: { host } },
    // As the router reaches it: TLS with the router's certificate.
    agent: {
      ...common,
      url: `${stack.agent.ready.ingressUrl}/`,
      headers: { "x-turgon-sandbox": sandbox.metadata?.uid as string },
      tls: {
        ca: await readFile(stack.pki.ca, "utf8"),
        cert: await readFile(stack.pki.router.cert, "utf8"),
        key: await readFile(stack.pki.router.key, "utf8"),
      },
    },
  };
}

/**
 * The simulated runtime's shared backend lives in the agent's process on a
 * port it does not log: of the agent's listening loopback ports, the one
 * whose plain-HTTP answer is the simulated sandbox's body.
 */
async function simulatedBackendUrl(stack: Stack): Promise<string> {
  const pid = stack.agent.child.pid;
  const { stdout } = await promisify(execFile)("ss", ["-ltnpH"]);
  const ports = stdout
    .split("\n")
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => /127\.0\.0\.1:(\d+)\s/.exec(line)?.[1])
    .filter((port): port is string => port !== undefined);
  for (const port of ports) {
    const url = `http://127.0.0.1:${port}/`;
    try {
      const response = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      if ((await response.body.text()) === SIMULATED_RESPONSE) return url;
    } catch {
      // A TLS port (the agent's API, its ingress) or another one: not the backend.
    }
  }
  throw new Error(`no simulated backend among the agent's (pid ${pid}) ports: ${ports.join(", ")}`);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
/** USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/**
 * A load run, with the CPU time each of `processes` used during it, per
 * successful request (µs): what each hop costs, which holds better than
 * req/s when other work shares the cores.
 */
async function measured(
  run: () => Promise<LoadResult>,
  processes: Record<string, number | undefined>,
): Promise<LoadResult & { cpuMicros: Record<string, number> }> {
  const before = await Promise.all(Object.values(processes).map(cpuSeconds));
  const result = await run();
  const after = await Promise.all(Object.values(processes).map(cpuSeconds));
  const cpuMicros = Object.fromEntries(
    Object.keys(processes).map((name, i) => [
      name,
      (((after[i] ?? 0) - (before[i] ?? 0)) / Math.max(1, result.requests)) * 1e6,
    ]),
  );
  return { ...result, cpuMicros };
}

const line = (label: string, r: LoadResult) =>
  `  ${label.padEnd(26)} ${r.perSecond.toFixed(1).padStart(8)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   ${r.requests} ok, ${r.errors} errors`;
const ratios = (label: string, r: LoadResult, base: LoadResult) =>
  `  ${label.padEnd(26)} throughput ${(r.perSecond / base.perSecond).toFixed(2)}×, p50 +${(r.p50 - base.p50).toFixed(2)} ms (${(r.p50 / base.p50).toFixed(2)}×), p99 +${(r.p99 - base.p99).toFixed(2)} ms (${(r.p99 / base.p99).toFixed(2)}×)`;

/** Case 1: a host-side backend behind the agent, so the numbers are what Turgon adds. */
async function fastBackend(seconds: number, concurrency: number): Promise<boolean> {
  const stack = await startStack({
    agentFlags: { runtime: "simulated", "simulated-boot-ms": "0" },
  });
  try {
    const sandbox = await readySandbox(stack, "fast", "bench-fast", {
      image: testEnvironment().guestImage,
      ingress: { enabled: true, access: "public" },
    });
    const { router, agent } = await paths(stack, sandbox);
    const backend: Target = { ...router, url: await simulatedBackendUrl(stack), headers: {} };
    const run = (target: Target) => loadTest({ ...target, seconds, concurrency });
    // Warm every path (connection pools, JIT) before measuring.
    for (const target of [backend, agent, router])
      await eventually(
        "the path answers",
        () => loadTest({ ...target, seconds: 1, concurrency, maxRequests: 1_000 }),
        (r) => r.requests > 0 && r.errors === 0,
        30_000,
      );
    const processes = { agent: stack.agent.child.pid, router: stack.router.child.pid };
    const straight = await measured(() => run(backend), processes);
    const viaAgent = await measured(() => run(agent), processes);
    const viaRouter = await measured(() => run(router), processes);
    console.log(
      `\nFast backend (the simulated runtime's loopback server in the agent's process), ${concurrency} connections, ${seconds} s each:`,
    );
    console.log(line("straight at the backend", straight));
    console.log(line("through the agent", viaAgent));
    console.log(line("through router + agent", viaRouter));
    console.log(ratios("agent / backend", viaAgent, straight));
    console.log(ratios("router+agent / backend", viaRouter, straight));
    const cpu = (r: typeof straight) =>
      `agent's process ${r.cpuMicros.agent?.toFixed(0)} µs, router ${r.cpuMicros.router?.toFixed(0)} µs`;
    console.log(
      "  CPU per request (the backend runs in the agent's process, so its share is the first line's):",
    );
    console.log(`    straight at the backend:  ${cpu(straight)}`);
    console.log(`    through the agent:        ${cpu(viaAgent)}`);
    console.log(`    through router + agent:   ${cpu(viaRouter)}`);
    // One connection: the latency each hop adds without requests queueing for the CPU.
    const unloaded: LoadResult[] = [];
    for (const target of [backend, agent, router])
      unloaded.push(await loadTest({ ...target, seconds: Math.min(seconds, 3), concurrency: 1 }));
    const [one, oneAgent, oneRouter] = unloaded as [LoadResult, LoadResult, LoadResult];
    console.log(
      `  one connection, p50: backend ${one.p50.toFixed(2)} ms, through the agent +${(oneAgent.p50 - one.p50).toFixed(2)} ms, through router + agent +${(oneRouter.p50 - one.p50).toFixed(2)} ms`,
    );
    const added = viaRouter.p50 - straight.p50;
    const kept = viaRouter.perSecond / straight.perSecond;
    console.log(
      `  goal (router + agent add ≤ 1 ms p50, keep ≥ 0.8× req/s): p50 +${added.toFixed(2)} ms ${added <= 1 ? "met" : "NOT met"}, ${kept.toFixed(2)}× ${kept >= 0.8 ? "met" : "NOT met"}`,
    );
    return straight.errors + viaAgent.errors + viaRouter.errors === 0;
  } finally {
    await stack.stop();
  }
}

/** Case 2: python http.server in a TCG guest (the rate TCG allows, about 100 req/s). */
async function tcgGuest(seconds: number, concurrency: number): Promise<boolean> {
  const stack = await startStack();
  try {
    const sandbox = await readySandbox(stack, "load", "bench", {
      image: "debian-python:latest",
      command: [
        "/bin/sh",
        "-c",
        "mkdir -p /srv/site && echo ok > /srv/site/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site",
      ],
      ingress: { enabled: true, access: "public", routes: [{ prefix: "/", port: 8000 }] },
    });
    const { router, agent } = await paths(stack, sandbox);
    // Warm both paths (the guest's server, connection pools) before measuring.
    await eventually(
      "the guest app answers",
      () => loadTest({ ...router, seconds: 1, concurrency: 1, maxRequests: 5 }),
      (r) => r.requests > 0 && r.errors === 0,
      30_000,
    );
    const viaAgent = await loadTest({ ...agent, seconds, concurrency });
    const viaRouter = await loadTest({ ...router, seconds, concurrency });
    console.log(
      `\nOne sandbox (python http.server in a TCG guest), ${concurrency} workers, ${seconds} s each:`,
    );
    console.log(line("straight at the agent", viaAgent));
    console.log(line("through the router", viaRouter));
    console.log(
      `  router / agent: throughput ${(viaRouter.perSecond / viaAgent.perSecond).toFixed(2)}, p50 ${(viaRouter.p50 / viaAgent.p50).toFixed(2)}, p99 ${(viaRouter.p99 / viaAgent.p99).toFixed(2)}`,
    );
    return viaRouter.errors === 0;
  } finally {
    await stack.stop();
  }
}

await globalSetup();
try {
  let ok = true;
  if (!values["skip-fast"])
    ok =
      (await fastBackend(Number(values["fast-seconds"]), Number(values["fast-concurrency"]))) && ok;
  if (!values["skip-tcg"])
    ok = (await tcgGuest(Number(values.seconds), Number(values.concurrency))) && ok;
  if (!values["skip-wake"]) ok = (await wakeBench(Number(values["wake-samples"]))) && ok;
  if (!ok) process.exitCode = 1;
} finally {
  await globalTeardown();
}
