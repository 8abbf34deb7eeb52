/**
 * Operator benchmark (issue: operator). Prints:
 *   1. apply-to-Ready p50/p90 with real VMs (QEMU, TCG here) for sandboxes
 *      created one after another, and for 10 created at once;
 *   1b. apply-to-Ready claimed from a warm pool next to cold boots (real VMs;
 *      bench/warm-pool.ts);
 *   2. reconcile throughput for 1,000 Sandboxes over 20 node agents that run
 *      the SIMULATED runtime (no QEMU: a fake VM that is "booted" after
 *      --simulated-boot-ms), against the API server's own create rate for
 *      the same objects as the baseline ratio.
 * Everything runs on a throw-away platform (real kube-apiserver and etcd) on
 * loopback, with real operator and agent processes; loops are bounded.
 *
 * Usage: node operator/bench/operator.ts [--sequential 5] [--burst 10]
 *   [--sandboxes 1000] [--agents 20] [--workers 16] [--skip-vms] [--skip-scale]
 *   [--warm-samples 5] [--warm-pool 3] [--warm-app] [--skip-warm]
 *   [--cpu-prof DIR: the scale run's operator writes a V8 CPU profile there]
 * (`npm run bench:operator`).
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CustomObjectsApi, type KubernetesObject } from "@kubernetes/client-node";
import type { Sandbox } from "@turgon/api/crd";
import { agentFlags, operatorFlags, toArgs } from "@turgon/dev/stack";
import {
  installCrds,
  kubectl,
  startScratchRedis,
  testEnvironment,
  testKubeConfig,
} from "@turgon/dev/testing";
import { globalSetup, globalTeardown } from "@turgon/dev/testing/platform";
import {
  customResourceInformer,
  shareConnections,
  startCaches,
  stopCaches,
} from "@turgon/toolkit/kube";
import { eventually, type RunningProcess, startProcess } from "../src/testing.ts";
import { benchWarmPool } from "./warm-pool.ts";

const { values } = parseArgs({
  options: {
    sequential: { type: "string", default: "5" },
    burst: { type: "string", default: "10" },
    sandboxes: { type: "string", default: "1000" },
    agents: { type: "string", default: "20" },
    "skip-vms": { type: "boolean", default: false },
    "skip-scale": { type: "boolean", default: false },
    "warm-samples": { type: "string", default: "5" },
    "warm-pool": { type: "string", default: "3" },
    "warm-app": { type: "boolean", default: false },
    "skip-warm": { type: "boolean", default: false },
    workers: { type: "string", default: "16" },
    "cpu-prof": { type: "string" },
  },
});
const sequential = Number(values.sequential);
const burst = Number(values.burst);
const scaleCount = Number(values.sandboxes);
const agentCount = Number(values.agents);
const workers = Number(values.workers);
/** Where the scale run's operator writes a V8 CPU profile (--cpu-prof DIR), for chrome://inspect. */
const operatorProfile: Record<string, string> = values["cpu-prof"]
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values["cpu-prof"]}` }
  : {};

const GROUP = { group: "turgon.dev", version: "v1alpha1", plural: "sandboxes" };

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}
/** CPU seconds (user + system) a process has used so far, from /proc (0 once it is gone). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // After "pid (comm) ": state, ppid, ... utime and stime are the 12th and 13th fields.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}
/** CPU seconds of each part, to say where a run's CPU went (the machine has few cores). */
async function cpuByPart(parts: Record<string, (number | undefined)[]>) {
  const used: Record<string, number> = {};
  for (const [part, pids] of Object.entries(parts))
    used[part] = (await Promise.all(pids.map(cpuSeconds))).reduce((a, b) => a + b, 0);
  return used;
}
function cpuUsed(before: Record<string, number>, after: Record<string, number>) {
  return Object.fromEntries(
    Object.keys(after).map((part) => [part, (after[part] ?? 0) - (before[part] ?? 0)]),
  );
}
function cpuLine(used: Record<string, number>, wall: number) {
  const parts = Object.entries(used).map(([part, seconds]) => `${part} ${seconds.toFixed(1)}`);
  return `CPU seconds in those ${wall.toFixed(1)} s: ${parts.join(", ")}`;
}
function summary(label: string, seconds: number[]): string {
  const sorted = [...seconds].sort((a, b) => a - b);
  return `${label}: n=${sorted.length} p50 ${percentile(sorted, 50).toFixed(2)} s, p90 ${percentile(sorted, 90).toFixed(2)} s, max ${(sorted.at(-1) ?? 0).toFixed(2)} s`;
}

await globalSetup();
const processes: RunningProcess[] = [];
const dir = await mkdtemp(join(tmpdir(), "turgon-bench-operator-"));
try {
  await installCrds();
  // Keep-alive connections, as the operator has: the baseline is the API server, not TLS handshakes.
  const kc = shareConnections(testKubeConfig());
  const api = kc.makeApiClient(CustomObjectsApi);
  const token = randomBytes(24).toString("hex");
  await writeFile(join(dir, "token"), token);
  const redis = await startScratchRedis();
  const env = testEnvironment();

  const startAgent = async (name: string, extra: Record<string, string>) => {
    const agentDir = join(dir, name);
    await mkdir(agentDir, { recursive: true });
    // Plain HTTP with the shared bearer token: the agent refuses a token without --insecure.
    const flags = agentFlags({
      node: name,
      apiPort: 0,
      ingressPort: 0,
      access: { tokenFile: join(dir, "token") },
      kubeconfig: env.kubeconfig,
      dir: agentDir,
      redisUrl: redis.url,
      extra,
    });
    const agent = await startProcess("node-agent", toArgs(flags), "node agent started");
    processes.push(agent);
    return agent;
  };
  const startOperator = async (
    selector: string,
    workers: number,
    processEnv: Record<string, string> = {},
  ) => {
    const flags = operatorFlags({
      kubeconfig: env.kubeconfig,
      access: { tokenFile: join(dir, "token") },
      metricsPort: 0,
      selector,
      extra: { "leader-elect": "false", workers: String(workers) },
    });
    const operator = await startProcess("operator", toArgs(flags), "operator started", {
      TURGON_LOG_LEVEL: "info",
      ...processEnv,
    });
    processes.push(operator);
    return operator;
  };
  const label = async (node: string, selector: string) => {
    const result = await kubectl(["label", "sandboxnode", node, selector, "--overwrite"]);
    if (result.exitCode !== 0) throw new Error(result.tail);
  };
  const create = (namespace: string, name: string, run: string) =>
    api.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name, labels: { "turgon.dev/bench": run } },
        spec: { image: "debian-python:latest" },
      },
    });
  const list = async (namespace: string) =>
    (
      (await api.listNamespacedCustomObject({
        ...GROUP,
        namespace,
      })) as { items: Sandbox[] }
    ).items;
  const isReady = (s: Sandbox) =>
    s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  /** Creates the named sandboxes (all at once) and returns each one's apply-to-Ready seconds. */
  const applyToReady = async (
    namespace: string,
    names: string[],
    run: string,
    timeoutMs: number,
  ) => {
    const startedAt = new Map<string, number>();
    const readyAt = new Map<string, number>();
    await Promise.all(
      names.map(async (name) => {
        startedAt.set(name, performance.now());
        await create(namespace, name, run);
      }),
    );
    const deadline = Date.now() + timeoutMs;
    while (readyAt.size < names.length) {
      if (Date.now() > deadline)
        throw new Error(`only ${readyAt.size}/${names.length} Ready in ${timeoutMs} ms`);
      const now = performance.now();
      for (const s of await list(namespace))
        if (isReady(s) && !readyAt.has(s.metadata.name as string))
          readyAt.set(s.metadata.name as string, now);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return names.map((n) => ((readyAt.get(n) as number) - (startedAt.get(n) as number)) / 1000);
  };
  /** Deletes every sandbox in the namespace at once and waits until the finalizers let them go. */
  const deleteAll = async (namespace: string) => {
    await api.deleteCollectionNamespacedCustomObject({ ...GROUP, namespace });
    await eventually(
      `${namespace} emptied`,
      () => list(namespace),
      (items) => items.length === 0,
      900_000,
    );
  };

  if (!values["skip-vms"]) {
    const run = "vms";
    const selector = `turgon.dev/bench=${run}`;
    await kubectl(["create", "namespace", "bench-vms"]);
    const agent = await startAgent("bench-qemu", {
      cpus: "16",
      "memory-mib": "8192",
      "max-vms": String(burst + 2),
    });
    await label("bench-qemu", selector);
    await startOperator(selector, 4);
    console.log(
      `real VMs on one agent (accelerator as probed; TCG on these machines), ${agent.ready.apiUrl}`,
    );
    const one: number[] = [];
    for (let i = 0; i < sequential; i++) {
      one.push(...(await applyToReady("bench-vms", [`seq-${i}`], run, 180_000)));
      await deleteAll("bench-vms");
    }
    console.log(summary("  apply-to-Ready, one after another", one));
    const names = Array.from({ length: burst }, (_, i) => `burst-${i}`);
    const together = await applyToReady("bench-vms", names, run, 600_000);
    console.log(summary(`  apply-to-Ready, ${burst} at once`, together));
    const deleteFrom = performance.now();
    await deleteAll("bench-vms");
    console.log(
      `  delete of ${burst} (one collection DELETE; VMs destroyed, finalizers removed): ${((performance.now() - deleteFrom) / 1000).toFixed(2)} s`,
    );
    for (const p of processes.splice(0)) await p.stop();
  }

  if (!values["skip-warm"]) {
    await benchWarmPool({
      samples: Number(values["warm-samples"]),
      poolSize: Number(values["warm-pool"]),
      withApp: values["warm-app"],
      startAgent,
      startOperator,
      label,
    });
  }

  if (!values["skip-scale"]) {
    const run = "scale";
    const selector = `turgon.dev/bench=${run}`;
    await kubectl(["create", "namespace", "bench-scale"]);
    await kubectl(["create", "namespace", "bench-baseline"]);
    const perAgent = Math.ceil(scaleCount / agentCount) + 5;
    console.log(
      `\nSIMULATED runtime: ${agentCount} agents (no QEMU; fake VMs), ${scaleCount} Sandboxes, operator with ${workers} workers`,
    );
    const started = performance.now();
    await Promise.all(
      Array.from({ length: agentCount }, async (_, i) => {
        const name = `bench-sim-${String(i).padStart(2, "0")}`;
        await startAgent(name, {
          runtime: "simulated",
          cpus: String(perAgent),
          "memory-mib": String(perAgent * 512),
          "max-vms": String(perAgent),
          "heartbeat-seconds": "10",
        });
        await label(name, selector);
      }),
    );
    console.log(
      `  ${agentCount} simulated agents up in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const daemonPid = async (name: string) =>
      (
        JSON.parse(
          await readFile(join(env.stateDir, name, `${name}.pid`), "utf8").catch(() => "{}"),
        ) as { pid?: number }
      ).pid;
    const parts: Record<string, (number | undefined)[]> = {
      "kube-apiserver": [await daemonPid("kube-apiserver")],
      etcd: [await daemonPid("etcd")],
      "kube-controller-manager": [await daemonPid("kube-controller-manager")],
      "node agents": processes.map((p) => p.child.pid),
      bench: [process.pid],
    };

    // Both runs create the same objects the same way: 20 at a time over keep-alive connections.
    const createdAt = new Map<string, number>();
    const batch = async (namespace: string, prefix: string, runLabel: string) => {
      const names = Array.from({ length: scaleCount }, (_, i) => `${prefix}-${i}`);
      const from = performance.now();
      for (let i = 0; i < names.length; i += 20)
        await Promise.all(
          names.slice(i, i + 20).map((n) => {
            createdAt.set(n, performance.now());
            return create(namespace, n, runLabel);
          }),
        );
      return (performance.now() - from) / 1000;
    };
    // Baseline: the API server's create rate for the same objects, no operator watching them.
    // Taken before and again after the operator's run: the machine's load moves meanwhile.
    const baseline = async (prefix: string) => {
      const before = await cpuByPart(parts);
      const seconds = await batch("bench-baseline", prefix, "baseline");
      return { seconds, cpu: cpuUsed(before, await cpuByPart(parts)) };
    };
    const firstBaseline = await baseline("base");

    // Readiness is followed by a watch (not by listing 1,000 objects over and over, which
    // would load the API server the operator is measured against).
    const readyAt = new Map<string, number>();
    const watched = customResourceInformer<Sandbox & KubernetesObject>(
      kc,
      { group: GROUP.group, version: GROUP.version, plural: GROUP.plural },
      selector,
    );
    const onChange = (s: Sandbox & KubernetesObject) => {
      const name = s.metadata.name as string;
      if (s.metadata.namespace === "bench-scale" && !readyAt.has(name) && isReady(s))
        readyAt.set(name, performance.now());
    };
    watched.on("add", onChange);
    watched.on("update", onChange);
    await startCaches({ watched }, console);

    const operator = await startOperator(selector, workers, operatorProfile);
    parts.operator = [operator.child.pid];
    const convergeCpu = await cpuByPart(parts);
    const from = performance.now();
    const createSeconds = await batch("bench-scale", "sbx", run);
    const deadline = from + 600_000;
    while (readyAt.size < scaleCount) {
      if (performance.now() > deadline)
        throw new Error(`only ${readyAt.size}/${scaleCount} Ready within 600 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const allReady = (Math.max(...readyAt.values()) - from) / 1000;
    const rate = scaleCount / allReady;
    const converged = cpuUsed(convergeCpu, await cpuByPart(parts));
    await stopCaches({ watched });
    const secondBaseline = await baseline("again");
    const baselineSeconds = firstBaseline.seconds + secondBaseline.seconds;
    const baselineRate = (2 * scaleCount) / baselineSeconds;
    // kube-apiserver CPU milliseconds per sandbox in each run.
    const apiServer = (used: Record<string, number>) => (used["kube-apiserver"] ?? 0) * 1000;
    const bareMs =
      (apiServer(firstBaseline.cpu) + apiServer(secondBaseline.cpu)) / (2 * scaleCount);
    const convergeMs = apiServer(converged) / scaleCount;
    const latencies = [...readyAt].map(
      ([name, at]) => (at - (createdAt.get(name) as number)) / 1000,
    );
    const metrics = await (await fetch(String(operator.ready.metrics))).text();
    const sample = (name: string, labels: string) =>
      Number(
        metrics
          .split("\n")
          .find((l) => l.startsWith(`${name}{${labels}}`))
          ?.split(" ")
          .at(-1) ?? 0,
      );
    const reconcileCount = (result: string) =>
      sample(
        "turgon_operator_reconcile_duration_seconds_count",
        `controller="sandbox",result="${result}"`,
      );
    const reconciles = reconcileCount("success") + reconcileCount("error");
    const errors = metrics
      .split("\n")
      .filter((l) => l.startsWith("turgon_operator_reconcile_errors_total{"));
    const nodes = new Map<string, number>();
    for (const s of await list("bench-scale"))
      nodes.set(s.status?.nodeName as string, (nodes.get(s.status?.nodeName as string) ?? 0) + 1);
    const spread = [...nodes.values()].sort((a, b) => a - b);
    console.log(`  throughput (indicative on a shared machine; ratios are from this one run):`);
    console.log(
      `    API server bare create rate: ${baselineRate.toFixed(0)}/s (${scaleCount} creates before the operator's run in ${firstBaseline.seconds.toFixed(1)} s, ${scaleCount} after it in ${secondBaseline.seconds.toFixed(1)} s; no operator watching them)`,
    );
    console.log(`      ${cpuLine(firstBaseline.cpu, firstBaseline.seconds)} (the first)`);
    console.log(
      `    converge rate:               ${rate.toFixed(0)}/s (${scaleCount} created in ${createSeconds.toFixed(1)} s, all Ready ${allReady.toFixed(1)} s after the first create)`,
    );
    console.log(`      ${cpuLine(converged, allReady)}`);
    console.log(
      `    ratio to the bare create rate: ${(rate / baselineRate).toFixed(2)}x (issue 16 goal: >= 0.5x)`,
    );
    console.log(
      `    kube-apiserver CPU per sandbox: ${convergeMs.toFixed(1)} ms to converge (its create, the finalizer, status writes, Events, watches) vs ${bareMs.toFixed(1)} ms per bare create: where the API server is the bottleneck, the ratio cannot pass ${(bareMs / convergeMs).toFixed(2)}x`,
    );
    console.log(
      `    reconciles per sandbox:      ${(reconciles / scaleCount).toFixed(2)} (${reconciles} reconciles, ${reconcileCount("error")} failed${errors.length ? `: ${errors.join(", ")}` : ""})`,
    );
    console.log(`  ${summary("apply-to-Ready under this load", latencies)}`);
    console.log(
      `  spread over ${nodes.size} nodes: min ${spread[0]}, max ${spread.at(-1)} per node`,
    );
    const deleteFrom = performance.now();
    await deleteAll("bench-scale");
    console.log(
      `  delete of ${scaleCount} (one collection DELETE) through the finalizer: ${((performance.now() - deleteFrom) / 1000).toFixed(1)} s`,
    );
  }
  await redis.remove();
} finally {
  await Promise.allSettled(processes.map((p) => p.stop()));
  await globalTeardown();
}
