/**
 * The node agent's sandbox supervisors outlive the agent by design (each holds
 * one VM), so whatever throws an agent away stops them too. This is the
 * net under that: a test run's teardown and `npm run down` stop every
 * supervisor (and, past the grace, any QEMU) that `match` picks, found in /proc.
 * Self-contained: @turgon/dev cannot depend on the node agent.
 */
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessInfo {
  pid: number;
  /** NUL-separated, as /proc gives it. */
  cmdline: string;
  environ: string;
}

async function processes(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
      found.push({ pid: Number(entry), cmdline, environ });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

const isSupervisor = (p: ProcessInfo) => p.cmdline.includes("supervisor/main.ts");
const isQemu = (p: ProcessInfo) => p.cmdline.includes("qemu-system");

/**
 * SIGTERM to every matching supervisor (it closes its VM), SIGKILL to what is
 * left after `graceMs`, matching QEMU processes included. Returns how many
 * supervisors it found.
 */
export async function stopLeftoverSupervisors(
  match: (p: ProcessInfo) => boolean,
  graceMs = 20_000,
): Promise<number> {
  const supervisors = (await processes()).filter((p) => isSupervisor(p) && match(p));
  for (const p of supervisors) process.kill(p.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  const pids = new Set(supervisors.map((p) => p.pid));
  while (Date.now() < deadline) {
    const left = (await processes()).filter((p) => pids.has(p.pid) && isSupervisor(p));
    if (left.length === 0) break;
    await sleep(100);
  }
  for (const p of await processes()) {
    if ((pids.has(p.pid) && isSupervisor(p)) || (isQemu(p) && match(p))) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  return supervisors.length;
}
