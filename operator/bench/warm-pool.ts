/**
 * bench:operator, warm pools (issue 16, item 1): apply→Ready of Sandboxes
 * claimed from a SandboxWarmPool next to cold boots of the same shape, in
 * one run, with real VMs (QEMU; TCG on these machines) on one agent.
 * Sandboxes are applied one after another; before each warm sample the
 * pool is let refill to its size, so every claim finds a ready VM. Cold
 * samples use a template of the same spec that no pool names. Bounded:
 * every wait has a deadline.
 */
import { CustomObjectsApi } from "@kubernetes/client-node";
import type { Sandbox, SandboxWarmPool } from "@turgon/api/crd";
import { kubectl, testKubeConfig } from "@turgon/dev/testing";
import { eventually, type RunningProcess } from "../src/testing.ts";

export interface WarmBenchOptions {
  /** Warm claims to time (and as many cold boots). */
  samples: number;
  /** Warm VMs the pool keeps. */
  poolSize: number;
  /**
   * Templates start an app (python3 -m http.server) behind an ingress route,
   * so Ready waits for it to serve: the claim plus the app's own start.
   */
  withApp?: boolean;
  /** Starts a QEMU-mode agent with these extra flags (the bench's own helper). */
  startAgent(name: string, extra: Record<string, string>): Promise<RunningProcess>;
  /** Starts the operator for objects with this label selector. */
  startOperator(selector: string, workers: number): Promise<RunningProcess>;
  label(node: string, selector: string): Promise<void>;
}

const NAMESPACE = "bench-warm";
const sandboxes = { group: "turgon.dev", version: "v1alpha1", plural: "sandboxes" };

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

/** p50/p90/max in seconds, and the sorted samples. */
function stats(seconds: number[]) {
  const sorted = [...seconds].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    max: sorted.at(-1) ?? Number.NaN,
    sorted,
  };
}

export async function benchWarmPool(options: WarmBenchOptions): Promise<void> {
  const { samples, poolSize } = options;
  const run = "warm";
  const selector = `turgon.dev/bench=${run}`;
  const api = testKubeConfig().makeApiClient(CustomObjectsApi);
  const processes: RunningProcess[] = [];
  try {
    await kubectl(["create", "namespace", NAMESPACE]);
    // Room for the pool, the claimed sandbox and the refill that follows its claim.
    processes.push(
      await options.startAgent("bench-warm", {
        cpus: "16",
        "memory-mib": "8192",
        "max-vms": String(poolSize + 4),
        "heartbeat-seconds": "2",
      }),
    );
    await options.label("bench-warm", selector);
    processes.push(await options.startOperator(selector, 4));

    const template = (name: string) => ({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxTemplate",
      metadata: { name },
      spec: {
        image: "debian-python:latest",
        resources: { cpus: 1, memory: "512Mi" },
        env: [{ name: "GREETING", value: "hello" }],
        ...(options.withApp
          ? {
              command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"],
              ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
            }
          : {}),
      },
    });
    for (const name of ["warm-web", "cold-web"])
      await api.createNamespacedCustomObject({
        group: "turgon.dev",
        version: "v1alpha1",
        plural: "sandboxtemplates",
        namespace: NAMESPACE,
        body: template(name),
      });
    await api.createNamespacedCustomObject({
      group: "turgon.dev",
      version: "v1alpha1",
      plural: "sandboxwarmpools",
      namespace: NAMESPACE,
      body: {
        apiVersion: "turgon.dev/v1alpha1",
        kind: "SandboxWarmPool",
        metadata: { name: "warm-web", labels: { "turgon.dev/bench": run } },
        spec: { templateRef: { name: "warm-web" }, replicas: poolSize },
      },
    });
    const pool = () =>
      api.getNamespacedCustomObject({
        group: "turgon.dev",
        version: "v1alpha1",
        plural: "sandboxwarmpools",
        namespace: NAMESPACE,
        name: "warm-web",
      }) as Promise<SandboxWarmPool>;
    const filled = () =>
      eventually(
        `the pool to hold ${poolSize} ready warm VMs`,
        pool,
        (p) => p.status?.readyReplicas === poolSize,
        Math.max(300_000, poolSize * 120_000),
        250,
      );
    const fillFrom = performance.now();
    await filled();
    console.log(
      `\nwarm pool: real VMs on one agent (TCG here), a SandboxWarmPool of ${poolSize}, ${samples} samples each${options.withApp ? ", Ready = an app (python3 -m http.server) serving through ingress" : ", no app (Ready = the VM runs)"}; filled in ${((performance.now() - fillFrom) / 1000).toFixed(1)} s`,
    );

    /** Applies one sandbox from `templateName` and times it to Ready; then deletes it. */
    const sample = async (name: string, templateName: string) => {
      const started = performance.now();
      await api.createNamespacedCustomObject({
        ...sandboxes,
        namespace: NAMESPACE,
        body: {
          apiVersion: "turgon.dev/v1alpha1",
          kind: "Sandbox",
          metadata: { name, labels: { "turgon.dev/bench": run } },
          spec: {
            templateRef: { name: templateName },
            env: [{ name: "SAMPLE", value: name }],
          },
        },
      });
      const ready = await eventually(
        `${name} Ready`,
        () =>
          api.getNamespacedCustomObject({
            ...sandboxes,
            namespace: NAMESPACE,
            name,
          }) as Promise<Sandbox>,
        (s) =>
          s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
        240_000,
        20,
      );
      const seconds = (performance.now() - started) / 1000;
      const message = ready.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "";
      await api.deleteNamespacedCustomObject({ ...sandboxes, namespace: NAMESPACE, name });
      await eventually(
        `${name} deleted`,
        async () =>
          (
            (await api.listNamespacedCustomObject({ ...sandboxes, namespace: NAMESPACE })) as {
              items: Sandbox[];
            }
          ).items.length,
        (count) => count === 0,
        120_000,
      );
      return { seconds, claimed: message.includes("warm pool") };
    };

    const warm: number[] = [];
    let claims = 0;
    for (let i = 0; i < samples; i++) {
      await filled();
      const { seconds, claimed } = await sample(`warm-${i}`, "warm-web");
      warm.push(seconds);
      if (claimed) claims += 1;
    }
    const cold: number[] = [];
    for (let i = 0; i < samples; i++) cold.push((await sample(`cold-${i}`, "cold-web")).seconds);

    const w = stats(warm);
    const c = stats(cold);
    const line = (label: string, s: ReturnType<typeof stats>) =>
      `  ${label}: n=${s.sorted.length} p50 ${s.p50.toFixed(2)} s, p90 ${s.p90.toFixed(2)} s, max ${s.max.toFixed(2)} s`;
    console.log(line(`apply-to-Ready from the warm pool (${claims}/${samples} claimed)`, w));
    console.log(line("apply-to-Ready, cold boot (same shape, no pool)", c));
    console.log(
      `  cold/warm: p50 ${(c.p50 / w.p50).toFixed(1)}x, p90 ${(c.p90 / w.p90).toFixed(1)}x; goal from the pool < 1 s: ${w.p50 < 1 ? "met" : "NOT met"} at p50, ${w.p90 < 1 ? "met" : "NOT met"} at p90`,
    );
    console.log(
      "  (a shared 2-core machine: indicative numbers; compare the ratio within one run)",
    );
  } finally {
    await kubectl(["delete", "namespace", NAMESPACE, "--wait=false"]);
    for (const p of processes) await p.stop().catch(() => {});
  }
}
