/**
 * Agent data-plane benchmark (issue: node agent). Prints:
 *   - ingress throughput and latency p50/p99 through the agent's ingress port
 *     versus straight at the VM's Gondolin gateway, as ratios from one run;
 *   - VM density: host memory (PSS) of N idle VMs, and VMs per GiB.
 *
 * Usage: node node-agent/bench/agent-ingress.ts [--seconds S] [--concurrency C] [--vms N]
 * (`npm run bench:agent`). Loopback only; every load loop is bounded in time
 * and in count.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER, signIngressTicket } from "@turgon/api/agent";
import { ensureImage } from "@turgon/images/build";
import { type LoadResult, loadTest } from "@turgon/toolkit/bench";
import { createIngressServer } from "../src/ingress/proxy.ts";
import { logger } from "../src/logger.ts";
import { SandboxManager } from "../src/sandboxes/manager.ts";
import { Checkpoints } from "../src/state/checkpoints.ts";
import { VmRecords } from "../src/state/vm-records.ts";
import { writeGuestFile } from "../src/testing.ts";
import { VmLauncher } from "../src/vm/launcher.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "8" },
    vms: { type: "string", default: "4" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const vmCount = Number(values.vms);
const MAX_REQUESTS = 200_000;

const log = logger.child({ bench: true }, { level: "warn" });
const image = await ensureImage("debian-python");
const stateDir = await mkdtemp(join(tmpdir(), "turgon-bench-state-"));
const manager = new SandboxManager({
  runtime: new VmLauncher({ accelerator: "auto" }),
  allocatable: { cpus: 64, memoryMiB: 64 * 1024, vms: 64 },
  log,
  ingressHeaderTimeoutMs: 60_000,
  nodeName: "bench",
  audit: () => {},
  records: new VmRecords(stateDir),
  checkpoints: new Checkpoints(stateDir),
});

async function boot(
  memoryMiB: number,
  command?: string[],
  routes?: { prefix: string; port: number }[],
) {
  const uid = randomUUID();
  await manager.put({
    operatingMode: "Running",
    ssh: { enabled: false },
    uid,
    name: `bench-${uid.slice(0, 8)}`,
    namespace: "bench",
    generation: 1,
    image: image.ref,
    resources: { cpus: 1, memoryMiB },
    env: {},
    ...(command ? { command } : {}),
    ingress: {
      enabled: true,
      websockets: true,
      ...(routes ? { routes: routes.map((r) => ({ ...r, stripPrefix: true })) } : {}),
    },
    policy: { allowedHosts: [], secrets: [], mode: "enforce" },
  });
  const deadline = Date.now() + 180_000;
  while (manager.get(uid)?.phase !== "Running") {
    if (manager.get(uid)?.phase === "Failed" || Date.now() > deadline)
      throw new Error(`VM ${uid} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return uid;
}

/** Closed-loop load: `concurrency` workers, each sending the next request when the last one ends. */
function load(url: string, headers: Record<string, string>): Promise<LoadResult> {
  return loadTest({ url, headers, seconds, concurrency, maxRequests: MAX_REQUESTS });
}

async function pssMiB(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  return Number(rollup.match(/^Pss:\s+(\d+) kB/m)?.[1] ?? Number.NaN) / 1024;
}

// Throughput: one VM serving a small echo response.
const echo = await readFile(new URL("../src/vm/fixtures/echo_server.py", import.meta.url), "utf8");
const uid = await boot(512);
const vm = manager.get(uid)?.vm;
if (!vm) throw new Error("no VM");
await writeGuestFile(vm, "/opt/echo_server.py", echo);
await vm.exec("setsid python3 /opt/echo_server.py 8000 >/dev/null 2>&1 </dev/null &");
vm.setIngressRoutes([{ prefix: "/", port: 8000, stripPrefix: true }]);
// An --insecure agent's ingress: a per-sandbox ticket keyed by the token, as the router sends it.
const token = randomUUID();
const proxy = createIngressServer({ manager, auth: { mode: "token", token }, log });
await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/bench`;
const gateway = manager.get(uid)?.ingress;
if (!gateway) throw new Error("no gateway");
const directUrl = `${gateway.url}/bench`;
for (let i = 0; i < 60 && (await fetch(directUrl).catch(() => undefined))?.status !== 200; i++) {
  await new Promise((resolve) => setTimeout(resolve, 500));
}
await load(directUrl, {}); // warm-up, discarded
const direct = await load(directUrl, {});
const viaAgent = await load(proxyUrl, {
  [SANDBOX_HEADER]: uid,
  [INGRESS_TICKET_HEADER]: signIngressTicket(token, uid),
});
proxy.close();
await manager.delete(uid);

// Density: N idle VMs.
const memoryMiB = 256;
const uids: string[] = [];
for (let i = 0; i < vmCount; i++) uids.push(await boot(memoryMiB));
await new Promise((resolve) => setTimeout(resolve, 10_000));
let totalPss = 0;
for (const id of uids) totalPss += await pssMiB(manager.get(id)?.hostPid() ?? 0);
await manager.stopAll();

const { accelerator } = await new VmLauncher({ accelerator: "auto" }).resolveAccelerator("");
const fmt = (r: LoadResult) =>
  `${r.perSecond.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.requests} ok, ${r.errors} errors)`;
console.log(
  `ingress, ${concurrency} concurrent clients for ${seconds} s each, guest ThreadingHTTPServer under ${accelerator}:`,
);
console.log(`  straight at the Gondolin gateway: ${fmt(direct)}`);
console.log(`  through the agent's ingress port: ${fmt(viaAgent)}`);
console.log(
  `  ratio agent/direct: throughput ${(viaAgent.perSecond / direct.perSecond).toFixed(2)}, p50 ${(viaAgent.p50 / direct.p50).toFixed(2)}, p99 ${(viaAgent.p99 / direct.p99).toFixed(2)}`,
);
const perVm = totalPss / vmCount;
console.log(
  `density: ${vmCount} idle VMs of ${memoryMiB} MiB use ${totalPss.toFixed(0)} MiB PSS on the host: ${perVm.toFixed(0)} MiB each, ${(1024 / perVm).toFixed(2)} VMs per GiB`,
);
process.exit(0);
