/**
 * Guest image and boot benchmark (issue: guest image). Prints:
 *   - the image's size (apparent and allocated);
 *   - build time: cold (empty caches: Zig, daemons, Debian base, image),
 *     image layer only (base and daemons cached), and unchanged (skipped);
 *   - boot-to-first-exec p50/p90 over N sequential boots;
 *   - the host memory (RSS and PSS) of one idle VM.
 *
 * Usage: node node-agent/bench/guest-image.ts [--boots N] [--no-cold]
 * (`npm run bench:guest`). It builds into a temporary cache for the cold
 * run and never touches the real one except to read it.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureImage } from "@turgon/images/build";
import { VmLauncher } from "../src/vm/launcher.ts";

const { values } = parseArgs({
  options: {
    boots: { type: "string", default: "5" },
    "no-cold": { type: "boolean", default: false },
  },
});
const boots = Number(values.boots);
if (!Number.isInteger(boots) || boots < 1 || boots > 50)
  throw new Error("--boots must be an integer from 1 to 50");

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
}
function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

async function buildTimes() {
  if (values["no-cold"]) return {};
  const scratch = await mkdtemp(join(tmpdir(), "turgon-bench-"));
  const saved = { cache: process.env.TURGON_CACHE_DIR, store: process.env.GONDOLIN_IMAGE_STORE };
  process.env.TURGON_CACHE_DIR = join(scratch, "cache");
  process.env.GONDOLIN_IMAGE_STORE = join(scratch, "images");
  try {
    const [cold, coldMs] = await timed(() => ensureImage("debian-python"));
    await rm(cold.dir, { recursive: true, force: true });
    const [, layerMs] = await timed(() => ensureImage("debian-python"));
    const [, unchangedMs] = await timed(() => ensureImage("debian-python"));
    return { coldMs, layerMs, unchangedMs };
  } finally {
    if (saved.cache === undefined) delete process.env.TURGON_CACHE_DIR;
    else process.env.TURGON_CACHE_DIR = saved.cache;
    if (saved.store === undefined) delete process.env.GONDOLIN_IMAGE_STORE;
    else process.env.GONDOLIN_IMAGE_STORE = saved.store;
    await rm(scratch, { recursive: true, force: true });
  }
}

async function imageSize(dir: string) {
  let apparent = 0;
  let allocated = 0;
  for (const file of ["vmlinuz-virt", "initramfs.cpio.lz4", "rootfs.ext4"]) {
    const info = await stat(join(dir, file));
    apparent += info.size;
    allocated += info.blocks * 512;
  }
  return { apparent, allocated };
}

async function memoryOf(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kib = (text: string, field: string) =>
    Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? Number.NaN);
  return { rssMiB: kib(status, "VmRSS") / 1024, pssMiB: kib(rollup, "Pss") / 1024 };
}

const builds = await buildTimes();
const image = await ensureImage("debian-python");
const size = await imageSize(image.dir);
const launcher = new VmLauncher({ accelerator: "auto" });
const bootMs: number[] = [];
for (let i = 0; i < boots; i++) {
  const [vm, ms] = await timed(async () => {
    const vm = await launcher.launch({ image: image.ref, cpus: 1, memoryMiB: 512 });
    const result = await vm.exec("true");
    if (result.exitCode !== 0) throw new Error("first exec failed");
    return vm;
  });
  bootMs.push(ms);
  if (i < boots - 1) await vm.close();
  else {
    // Let the last guest settle, then measure what one idle VM costs the host.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const pid = vm.getHostPid();
    const memory = pid ? await memoryOf(pid) : undefined;
    await vm.close();
    const sorted = [...bootMs].sort((a, b) => a - b);
    const { accelerator } = await launcher.resolveAccelerator("");
    console.log(`image ${image.ref} (build ${image.buildId})`);
    console.log(
      `  size: ${(size.apparent / 2 ** 20).toFixed(0)} MiB apparent, ${(size.allocated / 2 ** 20).toFixed(0)} MiB on disk`,
    );
    if (builds.coldMs !== undefined) {
      console.log(
        `  build: cold ${seconds(builds.coldMs)}, image layer only ${seconds(builds.layerMs)}, unchanged ${builds.unchangedMs.toFixed(0)} ms`,
      );
    }
    console.log(
      `  boot to first exec (${accelerator}, ${boots} boots, 1 vCPU, 512 MiB): p50 ${seconds(percentile(sorted, 50))}, p90 ${seconds(percentile(sorted, 90))}, all ${sorted.map((ms) => (ms / 1000).toFixed(1)).join(" ")}`,
    );
    if (memory)
      console.log(
        `  idle VM host memory: RSS ${memory.rssMiB.toFixed(0)} MiB, PSS ${memory.pssMiB.toFixed(0)} MiB`,
      );
  }
}
