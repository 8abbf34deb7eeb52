/**
 * Router benchmark (issue: router). Prints, for one sandbox on a real VM
 * (TCG here), closed-loop load for --seconds with --concurrency workers:
 * requests/s and latency p50/p99 straight at the node agent's ingress port
 * and through the router, with the router's ratios from the same run, and
 * the error count of each (the router's must be zero).
 *
 * Usage: node router/bench/router.ts [--seconds 30] [--concurrency 8]
 * (`npm run bench:router`). Loopback only; bounded in time and count.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Sandbox } from "@turgon/api/crd";
import { kubectl } from "@turgon/dev/testing";
import { globalSetup, globalTeardown } from "@turgon/dev/testing/platform";
import { eventually, type Stack, startStack } from "@turgon/operator/testing";
import { loadTest } from "@turgon/toolkit/bench";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    concurrency: { type: "string", default: "8" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

await globalSetup();
let stack: Stack | undefined;
try {
  stack = await startStack();
  await kubectl(["create", "namespace", "bench"]);
  const sandbox = {
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name: "load", namespace: "bench", labels: stack.labels },
    spec: {
      image: "debian-python:latest",
      command: [
        "/bin/sh",
        "-c",
        "mkdir -p /srv/site && echo ok > /srv/site/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site",
      ],
      ingress: { enabled: true, access: "public", routes: [{ prefix: "/", port: 8000 }] },
    },
  };
  await writeFile(join(stack.dir, "load.json"), JSON.stringify(sandbox));
  await kubectl(["apply", "-f", join(stack.dir, "load.json")]);
  const ready = await eventually(
    "sandbox Ready",
    async () =>
      JSON.parse(
        (await kubectl(["get", "sandbox", "load", "-n", "bench", "-o", "json"])).stdout,
      ) as Sandbox,
    (s) => s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    180_000,
  );
  const host = `load--bench.localhost:${stack.routerPort}`;
  const viaRouter = { url: `http://127.0.0.1:${stack.routerPort}/`, headers: { host } };
  // Straight at the agent's ingress port, as the router reaches it: TLS with the router's certificate.
  const direct = {
    url: `${stack.agent.ready.ingressUrl}/`,
    headers: { "x-turgon-sandbox": ready.metadata.uid as string },
    tls: {
      ca: await readFile(stack.pki.ca, "utf8"),
      cert: await readFile(stack.pki.router.cert, "utf8"),
      key: await readFile(stack.pki.router.key, "utf8"),
    },
  };
  // Warm both paths (the guest's server, connection pools) before measuring.
  await eventually(
    "the guest app answers",
    () => loadTest({ ...viaRouter, seconds: 1, concurrency: 1, maxRequests: 5 }),
    (r) => r.requests > 0 && r.errors === 0,
    30_000,
  );

  const agent = await loadTest({ ...direct, seconds, concurrency });
  const router = await loadTest({ ...viaRouter, seconds, concurrency });
  const line = (label: string, r: typeof agent) =>
    `  ${label.padEnd(22)} ${r.perSecond.toFixed(1).padStart(8)} req/s   p50 ${r.p50.toFixed(1)} ms   p99 ${r.p99.toFixed(1)} ms   ${r.requests} ok, ${r.errors} errors`;
  console.log(
    `\nOne sandbox (python http.server in a TCG guest), ${concurrency} workers, ${seconds} s each:`,
  );
  console.log(line("straight at the agent", agent));
  console.log(line("through the router", router));
  console.log(
    `  router / agent: throughput ${(router.perSecond / agent.perSecond).toFixed(2)}, p50 ${(router.p50 / agent.p50).toFixed(2)}, p99 ${(router.p99 / agent.p99).toFixed(2)}`,
  );
  if (router.errors > 0) process.exitCode = 1;
} finally {
  await stack?.stop();
  await globalTeardown();
}
