/**
 * Agent data-plane benchmark (issue: node agent). Prints:
 *   - ingress throughput and latency p50/p99 through the agent's ingress port
 *     and through the sandbox's own front (in its supervisor) versus straight
 *     at the VM's Gondolin gateway, as ratios from one run;
 *   - VM density: host memory (PSS) of N idle VMs, and VMs per GiB, before
 *     and after issue 16's memory settings in the same run (before: TCG
 *     cache 64 MiB, QEMU's anonymous guest RAM, no free page reporting;
 *     after: the agent's defaults), QEMU broken down into guest RAM, TCG
 *     cache and QEMU's own, plus the supervisor; then, with the defaults, in
 *     the agent's process (QEMU alone counted) and one supervisor process per
 *     VM with and without its ingress front, without the supervisors' V8
 *     flags, and from TypeScript (main.ts, the fallback) instead of the bundle;
 *   - re-adoption: how long a starting agent takes to re-adopt N running
 *     supervisors (`--adopt N`, default `--vms`);
 *   - the fast-backend case (fast-backend.ts): a host-side server instead of
 *     the VM, at 64 connections, through the agent's port and a front.
 *
 * Usage: node node-agent/bench/agent-ingress.ts [--seconds S] [--concurrency C] [--vms N] [--adopt N]
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
import {
  type FrontSettings,
  SandboxManager,
  type SupervisionSettings,
} from "../src/sandboxes/manager.ts";
import { nodeVmContext } from "../src/sandboxes/node-vm.ts";
import { Checkpoints } from "../src/state/checkpoints.ts";
import { VmRecords } from "../src/state/vm-records.ts";
import { SUPERVISOR_SOURCE_ENTRY, supervisorEntry } from "../src/supervisor/bundle.ts";
import { type NodeVmSettings, supervisorSpoolDir } from "../src/supervisor/config.ts";
import { FrontPorts } from "../src/supervisor/ports.ts";
import { SUPERVISOR_NODE_FLAGS, stopSupervisors } from "../src/supervisor/processes.ts";
import { SupervisedSandbox } from "../src/supervisor/supervised.ts";
import { writeGuestFile } from "../src/testing.ts";
import { DEFAULT_TCG_TRANSLATION_CACHE_MIB, VmLauncher } from "../src/vm/launcher.ts";
import { fastBackendCase } from "./fast-backend.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "8" },
    vms: { type: "string", default: "4" },
    adopt: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const vmCount = Number(values.vms);
const adoptCount = Number(values.adopt ?? values.vms);
const MAX_REQUESTS = 200_000;

const log = logger.child({ bench: true }, { level: "warn" });
const image = await ensureImage("debian-python");
// By build id, not `debian-python:latest`: the image store is per user, and
// another checkout's build may re-point the tag while this bench runs.
const imageId = image.buildId;
const stateDir = await mkdtemp(join(tmpdir(), "turgon-bench-state-"));
// An --insecure agent's ingress: a per-sandbox ticket keyed by the token, as the router sends it.
const token = randomUUID();
/** Each supervisor's front, as an --insecure agent gives it (any free port, the token). */
const fronts = (): FrontSettings => ({
  host: "127.0.0.1",
  ports: new FrontPorts("ephemeral"),
  auth: () => ({ auth: { mode: "token", token } }),
});
const nodeVm: NodeVmSettings = {
  nodeName: "bench",
  accelerator: "auto",
  tcgTranslationCacheMiB: DEFAULT_TCG_TRANSLATION_CACHE_MIB,
  ingressHeaderTimeoutMs: 60_000,
  platformCidrs: [],
};
/** The VM settings before issue 16's density work (`--tcg-tb-size-mib 64 --free-page-reporting false`). */
const nodeVmBefore: NodeVmSettings = {
  ...nodeVm,
  tcgTranslationCacheMiB: 64,
  freePageReporting: false,
};
const bundleEntry = await supervisorEntry(log);
if (bundleEntry === SUPERVISOR_SOURCE_ENTRY) throw new Error("the supervisor bundle did not build");
const supervision = (
  nodeFlags: string[],
  withFront = true,
  entry = bundleEntry,
  vm = nodeVm,
): SupervisionSettings => ({
  stateDir,
  entry,
  spoolDirOf: (uid) => supervisorSpoolDir(join(stateDir, "spool"), uid),
  spoolMaxMiB: 64,
  version: "bench",
  vm,
  nodeFlags,
  ...(withFront ? { front: fronts() } : {}),
});
/** In the agent's process (the layout before supervisors), or one supervisor per VM. */
const newManager = (settings?: SupervisionSettings) =>
  new SandboxManager({
    allocatable: { cpus: 64, memoryMiB: 64 * 1024, vms: 64 },
    log,
    ...(settings
      ? { supervision: settings }
      : {
          inProcess: {
            ...nodeVmContext(nodeVm),
            audit: () => {},
            records: new VmRecords(stateDir),
            checkpoints: new Checkpoints(stateDir),
          },
        }),
  });
let manager = newManager();

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
    image: imageId,
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

// Throughput: one VM, in its supervisor (as the agent runs it), serving a small echo response.
manager = newManager(supervision(SUPERVISOR_NODE_FLAGS));
const echo = await readFile(new URL("../src/vm/fixtures/echo_server.py", import.meta.url), "utf8");
const uid = await boot(512);
const vm = manager.get(uid)?.vm;
if (!vm) throw new Error("no VM");
await writeGuestFile(vm, "/opt/echo_server.py", echo);
await vm.exec("setsid python3 /opt/echo_server.py 8000 >/dev/null 2>&1 </dev/null &");
await vm.setIngressRoutes([{ prefix: "/", port: 8000, stripPrefix: true }]);
const proxy = createIngressServer({
  lookup: (uid) => manager.get(uid),
  auth: () => ({ mode: "token", token }),
  log,
});
await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/bench`;
const gateway = manager.get(uid)?.gateway();
if (!gateway) throw new Error("no gateway");
const directUrl = `http://${gateway.host}:${gateway.port}/bench`;
const frontPort = manager.get(uid)?.observe().frontPort;
if (!frontPort) throw new Error("no front");
const frontUrl = `http://127.0.0.1:${frontPort}/bench`;
for (let i = 0; i < 60 && (await fetch(directUrl).catch(() => undefined))?.status !== 200; i++) {
  await new Promise((resolve) => setTimeout(resolve, 500));
}
await load(directUrl, {}); // warm-up, discarded
const direct = await load(directUrl, {});
const routerHeaders = {
  [SANDBOX_HEADER]: uid,
  [INGRESS_TICKET_HEADER]: signIngressTicket(token, uid),
};
const viaFront = await load(frontUrl, routerHeaders);
const viaAgent = await load(proxyUrl, routerHeaders);
proxy.close();
await manager.delete(uid);

// Density: N idle VMs, in each layout.
const memoryMiB = 256;
const { accelerator } = await new VmLauncher({ accelerator: "auto" }).resolveAccelerator("");

/** One QEMU's PSS (MiB), split by mapping: guest RAM, the TCG translation cache, the rest (QEMU's own). */
interface QemuMemory {
  total: number;
  guestRam: number;
  tcgCache: number;
}
/**
 * Attributes QEMU's mappings by what they are: guest RAM is the memfd
 * backend, or the anonymous mapping of exactly the guest's size; the TCG
 * cache is the first anonymous mapping of its configured size (QEMU 7.2 maps
 * it in one piece, give or take guard pages). A heuristic, good enough to
 * say where memory goes.
 */
async function qemuMemory(pid: number, tcgCacheMiB: number): Promise<QemuMemory> {
  const smaps = await readFile(`/proc/${pid}/smaps`, "utf8");
  const memory: QemuMemory = { total: 0, guestRam: 0, tcgCache: 0 };
  let name = "";
  let sizeKiB = 0;
  for (const line of smaps.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] ?? "";
      continue;
    }
    const field = /^(Size|Pss):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    const kib = Number(field[2]);
    if (field[1] === "Size") {
      sizeKiB = kib;
      continue;
    }
    const mib = kib / 1024;
    memory.total += mib;
    if (name.startsWith("/memfd:memory-backend") || (name === "" && sizeKiB === memoryMiB * 1024))
      memory.guestRam += mib;
    else if (
      accelerator === "tcg" &&
      name === "" &&
      Math.abs(sizeKiB - tcgCacheMiB * 1024) <= 2048 &&
      !memory.tcgCache
    )
      memory.tcgCache += mib;
  }
  return memory;
}

async function density(settings?: SupervisionSettings) {
  manager = newManager(settings);
  const uids: string[] = [];
  const started = performance.now();
  for (let i = 0; i < vmCount; i++) uids.push(await boot(memoryMiB));
  const bootSeconds = (performance.now() - started) / 1000 / vmCount;
  // Idle: free page reporting waits ~2 s after the guest frees pages.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const qemu: QemuMemory = { total: 0, guestRam: 0, tcgCache: 0 };
  let supervisors = 0;
  const tcgCacheMiB = (settings?.vm ?? nodeVm).tcgTranslationCacheMiB;
  for (const id of uids) {
    const sandbox = manager.get(id);
    const one = await qemuMemory(sandbox?.hostPid() ?? 0, tcgCacheMiB);
    qemu.total += one.total;
    qemu.guestRam += one.guestRam;
    qemu.tcgCache += one.tcgCache;
    if (sandbox instanceof SupervisedSandbox)
      supervisors += await pssMiB(sandbox.supervisorPid() ?? 0);
  }
  return { qemu: qemu.total, breakdown: qemu, supervisors, uids, bootSeconds };
}
const before = await density(supervision(SUPERVISOR_NODE_FLAGS, true, bundleEntry, nodeVmBefore));
await manager.stopAll();
const inProcess = await density();
await manager.stopAll();
const bare = await density(supervision([], false));
await manager.stopAll();
const noFront = await density(supervision(SUPERVISOR_NODE_FLAGS, false));
await manager.stopAll();
const fromSource = await density(supervision(SUPERVISOR_NODE_FLAGS, true, SUPERVISOR_SOURCE_ENTRY));
await manager.stopAll();
const supervised = await density(supervision(SUPERVISOR_NODE_FLAGS));

// Re-adoption: the VMs' supervisors run on; a new manager (a starting agent) finds them.
await manager.detachAll();
for (let i = vmCount; i < adoptCount; i++) {
  manager = newManager(supervision(SUPERVISOR_NODE_FLAGS));
  await boot(memoryMiB);
  await manager.detachAll();
}
const adopting = newManager(supervision(SUPERVISOR_NODE_FLAGS));
const adoptStarted = performance.now();
const { adopted } = await adopting.adopt();
const adoptMs = performance.now() - adoptStarted;
await adopting.stopAll();
await stopSupervisors(stateDir);

const fmt = (r: LoadResult) =>
  `${r.perSecond.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.requests} ok, ${r.errors} errors)`;
console.log(
  `ingress, ${concurrency} concurrent clients for ${seconds} s each, guest ThreadingHTTPServer under ${accelerator}:`,
);
console.log(`  straight at the Gondolin gateway: ${fmt(direct)}`);
console.log(`  through the agent's ingress port: ${fmt(viaAgent)}`);
console.log(`  through the sandbox's front:      ${fmt(viaFront)}`);
const ratio = (what: string, via: LoadResult) =>
  `  ratio ${what}/direct: throughput ${(via.perSecond / direct.perSecond).toFixed(2)}, p50 ${(via.p50 / direct.p50).toFixed(2)}, p99 ${(via.p99 / direct.p99).toFixed(2)}`;
console.log(ratio("agent", viaAgent));
console.log(ratio("front", viaFront));
const perVm = (mib: number) => mib / vmCount;
const line = (what: string, mib: number) =>
  `  ${what}: ${mib.toFixed(0)} MiB PSS, ${perVm(mib).toFixed(0)} MiB per VM, ${(1024 / perVm(mib)).toFixed(2)} VMs per GiB`;
console.log(`density: ${vmCount} idle VMs of ${memoryMiB} MiB (guest memory), host PSS:`);
/** One layout's memory per VM, QEMU broken down. */
const perVmLine = (what: string, run: typeof supervised) => {
  const total = perVm(run.qemu + run.supervisors);
  const b = run.breakdown;
  const own = b.total - b.guestRam - b.tcgCache;
  return [
    `  ${what}:`,
    `    ${total.toFixed(0)} MiB per VM, ${(1024 / total).toFixed(2)} VMs per GiB; boot ${run.bootSeconds.toFixed(1)} s per VM (sequential)`,
    `    QEMU ${perVm(b.total).toFixed(0)} MiB = guest RAM ${perVm(b.guestRam).toFixed(0)} + TCG cache ${perVm(b.tcgCache).toFixed(0)} + QEMU's own ${perVm(own).toFixed(0)}; supervisor ${perVm(run.supervisors).toFixed(0)} MiB`,
  ].join("\n");
};
console.log(
  perVmLine(
    `before (--tcg-tb-size-mib 64 --free-page-reporting false: QEMU's anonymous RAM, huge pages allowed)`,
    before,
  ),
);
console.log(
  perVmLine(
    `after (the defaults: --tcg-tb-size-mib ${DEFAULT_TCG_TRANSLATION_CACHE_MIB}, free page reporting, guest RAM in a memfd, caches dropped after boot)`,
    supervised,
  ),
);
const beforePerVm = perVm(before.qemu + before.supervisors);
const afterPerVm = perVm(supervised.qemu + supervised.supervisors);
console.log(
  `  after/before: ${(afterPerVm / beforePerVm).toFixed(2)} of the memory per VM, ${(beforePerVm / afterPerVm).toFixed(2)}× the VMs per GiB (issue 16 aims at 10 VMs per GiB)`,
);
if (accelerator === "tcg")
  console.log(
    `  under KVM: no TCG cache (${DEFAULT_TCG_TRANSLATION_CACHE_MIB} MiB per VM here) and less of QEMU's own (TCG's translation tables); the guest's RAM and the supervisor stay`,
  );
const ksmRun = await readFile("/sys/kernel/mm/ksm/run", "utf8").then(
  (value) => value.trim(),
  () => "absent",
);
console.log(
  `  KSM: not used (host-wide /sys/kernel/mm/ksm/run is ${ksmRun}; it costs CPU to scan, and merges anonymous memory only, so --free-page-reporting false)`,
);
console.log("  with the defaults, other layouts:");
console.log(
  line("in the agent's process (QEMU alone; the agent's share not counted)", inProcess.qemu),
);
console.log(
  line(
    `one supervisor per VM from the bundle, with its ingress front, V8 flags ${SUPERVISOR_NODE_FLAGS.join(" ")} (QEMU + supervisor)`,
    supervised.qemu + supervised.supervisors,
  ),
);
console.log(
  `    of which the supervisor: ${perVm(supervised.supervisors).toFixed(1)} MiB per VM (QEMU ${perVm(supervised.qemu).toFixed(0)} MiB)`,
);
console.log(
  line(
    "the same, run from TypeScript (main.ts) instead of the bundle",
    fromSource.qemu + fromSource.supervisors,
  ),
);
console.log(
  `    of which the supervisor: ${perVm(fromSource.supervisors).toFixed(1)} MiB per VM (QEMU ${perVm(fromSource.qemu).toFixed(0)} MiB)`,
);
console.log(
  line("one supervisor per VM without a front, same flags", noFront.qemu + noFront.supervisors),
);
console.log(
  `    of which the supervisor: ${perVm(noFront.supervisors).toFixed(1)} MiB per VM (QEMU ${perVm(noFront.qemu).toFixed(0)} MiB)`,
);
console.log(
  `  one supervisor per VM, no V8 flags, no front: supervisor ${perVm(bare.supervisors).toFixed(1)} MiB per VM (QEMU ${perVm(bare.qemu).toFixed(0)} MiB)`,
);
console.log(
  `re-adoption: ${adopted.length} of ${adoptCount} running supervisors re-adopted in ${adoptMs.toFixed(0)} ms`,
);
// Issue 16: what the agent's ingress adds in front of a host-side backend (no TCG), in its own module.
console.log((await fastBackendCase({ seconds, concurrency: 64 })).lines.join("\n"));
process.exit(0);
