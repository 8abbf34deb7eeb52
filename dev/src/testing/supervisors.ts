/**
 * The node agent's sandbox supervisors outlive the agent by design (each holds
 * one VM), so whatever throws an agent away stops them too. This is the
 * net under that: a test run's teardown and `npm run down` stop every
 * supervisor (and, past the grace, its QEMU) that `match` picks, found in
 * /proc. Which process a pid names is the node agent's own module
 * (`@turgon/node-agent/process-identity`, Node built-ins only).
 */
import { resolve, sep } from "node:path";
import {
  isProcess,
  isProcessWhere,
  isSupervisorCommand,
  killAndWait,
  listProcesses,
  type ProcessInfo,
  QEMU_MARK,
  signalIf,
  supervisorEntryIndex,
  waitGone,
} from "@turgon/node-agent/process-identity";

export type { ProcessInfo };

/** The same process as found (a pid reused meanwhile is left alone). */
const same = (found: ProcessInfo, mark: string) => (pid: number) =>
  isProcess(pid, [mark], found.startTime);
/** The same supervisor as found, run from `main.ts` or from a bundle. */
const sameSupervisor = (found: ProcessInfo) => (pid: number) =>
  isProcessWhere(pid, (cmdline) => isSupervisorCommand(cmdline), found.startTime);

/**
 * SIGTERM to every matching supervisor (it closes its VM), SIGKILL to what is
 * left after `graceMs`: the supervisors, their QEMU children (found before
 * the signal: a QEMU re-parented after its supervisor died carries no mark
 * of it) and any QEMU `match` picks. Waits on the pids it found, not on
 * /proc. Returns how many supervisors it found.
 */
export async function stopLeftoverSupervisors(
  match: (p: ProcessInfo) => boolean,
  graceMs = 20_000,
): Promise<number> {
  const all = await listProcesses();
  const supervisors = all.filter((p) => isSupervisorCommand(p.cmdline) && match(p));
  const parents = new Set(supervisors.map((p) => p.pid));
  const qemus = all.filter(
    (p) => p.cmdline.includes(QEMU_MARK) && (parents.has(p.ppid) || match(p)),
  );
  await Promise.all(
    supervisors.map(async (p) => {
      const running = sameSupervisor(p);
      if (await signalIf(p.pid, "SIGTERM", running)) await waitGone(() => running(p.pid), graceMs);
    }),
  );
  await Promise.all([
    ...supervisors.map((p) => killAndWait(p.pid, sameSupervisor(p))),
    ...qemus.map((p) => killAndWait(p.pid, same(p, QEMU_MARK))),
  ]);
  return supervisors.length;
}

/**
 * Picks the supervisors whose state directory is `dir` or lies inside it, by
 * path segment (`/x/state` picks `/x/state/node-agent/state`, never
 * `/x/state-2/...`), read from the options argument that follows the
 * supervisor's entry on its command line.
 */
export function supervisorsUnder(dir: string): (p: ProcessInfo) => boolean {
  const root = resolve(dir);
  return (p) => {
    const args = p.cmdline.split("\0");
    const entry = supervisorEntryIndex(p.cmdline);
    if (entry < 0) return false;
    let stateDir: unknown;
    try {
      stateDir = (JSON.parse(args[entry + 1] ?? "") as { stateDir?: unknown }).stateDir;
    } catch {
      return false;
    }
    return (
      typeof stateDir === "string" && (stateDir === root || stateDir.startsWith(`${root}${sep}`))
    );
  };
}
