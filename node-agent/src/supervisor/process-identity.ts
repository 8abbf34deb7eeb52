/**
 * Which process a pid names, from /proc: the node agent, its tests and the
 * dev tooling (`@turgon/node-agent/process-identity`) signal a supervisor or
 * a QEMU only while its pid still names that very process. A pid is reused
 * once its process is gone, so a recorded pid is checked by what the process
 * runs (its command line) and, when recorded, by its start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot), which a reused pid never shares.
 * A zombie (state Z: exited, not yet reaped, as an orphaned supervisor stays
 * under a PID 1 that does not reap) is gone, though kill(pid, 0) still
 * succeeds on it: every check here reads the state first.
 * Node built-ins only: `npm run down` loads it without the agent.
 */
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** What the command line of a supervisor run from TypeScript holds (its entry), in any build's checkout. */
export const SUPERVISOR_MARK = "supervisor/main.ts";
/** A supervisor bundle's file name: `turgon-supervisor.<16 hex of its content>.mjs` (see `bundle.ts`). */
const BUNDLE_NAME = /(?:^|\/)turgon-supervisor\.[0-9a-f]{16}\.mjs$/;

/** The file name of the supervisor bundle whose content hashes to `hash` (16 hex digits). */
export const supervisorBundleName = (hash: string) => `turgon-supervisor.${hash}.mjs`;

/**
 * Whether a command-line argument is a supervisor's entry: `main.ts` (older
 * builds, and the fallback) or a bundle. An upgraded agent meets both.
 */
export const isSupervisorEntry = (arg: string) =>
  arg.endsWith(SUPERVISOR_MARK) || BUNDLE_NAME.test(arg);

/** Whether a command line (NUL-separated, as /proc gives it) is a supervisor's; the index of its entry, or -1. */
export function supervisorEntryIndex(cmdline: string): number {
  return cmdline.split("\0").findIndex(isSupervisorEntry);
}
/** What a QEMU's command line holds (`qemu-system-x86_64`, `qemu-system-aarch64`). */
export const QEMU_MARK = "qemu-system";

export interface ProcStat {
  /** One letter: R, S, D, Z (zombie), T, ... */
  state: string;
  ppid: number;
  /** Clock ticks after boot when the process started. */
  startTime: number;
}

/**
 * Parses /proc/<pid>/stat. Field 2 (`comm`, in parentheses) may hold spaces
 * and parentheses of its own, so the fields are read after the last ')'.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // Fields 3 (state) onwards.
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const ppid = Number(fields[1]);
  const startTime = Number(fields[22 - 3]);
  if (!state || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTime)) return undefined;
  return { state, ppid, startTime };
}

async function procStat(pid: number): Promise<ProcStat | undefined> {
  return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""));
}

/** The start time of a live process (field 22 of its stat), or undefined when it is gone. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  const stat = await procStat(pid);
  return stat && stat.state !== "Z" ? stat.startTime : undefined;
}

/** As `processStartTime`, synchronously (a supervisor's state is built synchronously). */
export function processStartTimeSync(pid: number): number | undefined {
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const stat = parseProcStat(text);
  return stat && stat.state !== "Z" ? stat.startTime : undefined;
}

/**
 * True while `pid` runs (not a zombie), its command line holds every one of
 * `marks`, and, when `startTime` is given, it started then.
 */
export async function isProcess(
  pid: number,
  marks: string[],
  startTime?: number,
): Promise<boolean> {
  return isProcessWhere(pid, (cmdline) => marks.every((mark) => cmdline.includes(mark)), startTime);
}

/**
 * True while `pid` runs (not a zombie), `matches` its command line
 * (NUL-separated) and, when `startTime` is given, it started then.
 */
export async function isProcessWhere(
  pid: number,
  matches: (cmdline: string) => boolean,
  startTime?: number,
): Promise<boolean> {
  const stat = await procStat(pid);
  if (!stat || stat.state === "Z") return false;
  if (startTime !== undefined && stat.startTime !== startTime) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return matches(cmdline);
}

/** Whether a command line is a supervisor's (either entry), and, when given, the one of `uid`. */
export const isSupervisorCommand = (cmdline: string, uid?: string) =>
  supervisorEntryIndex(cmdline) >= 0 && (uid === undefined || cmdline.includes(uid));

/**
 * True while `pid` is the supervisor of `uid`: of any build (an upgraded
 * agent finds its predecessor's), never a reused pid.
 */
export const isSupervisor = (pid: number, uid: string, startTime?: number) =>
  isProcessWhere(pid, (cmdline) => isSupervisorCommand(cmdline, uid), startTime);

/** True while `pid` is a live QEMU (that started at `startTime`, when given). */
export const isQemu = (pid: number, startTime?: number) => isProcess(pid, [QEMU_MARK], startTime);

/**
 * Waits until `check` says the process is gone, polling at most every
 * 50 ms backing off to 500 ms, for at most `timeoutMs`; whether it went.
 */
export async function waitGone(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let pauseMs = 50;
  while (performance.now() < deadline) {
    if (!(await check())) return true;
    await sleep(Math.min(pauseMs, Math.max(1, deadline - performance.now())));
    pauseMs = Math.min(pauseMs * 2, 500);
  }
  return !(await check());
}

/**
 * Sends `signal` to `pid` if `check` says it is still the process meant;
 * whether it was sent. (What is left between the check and the signal is
 * the kernel's own race, microseconds, not the minutes a stale record spans.)
 */
export async function signalIf(
  pid: number,
  signal: NodeJS.Signals,
  check: (pid: number) => Promise<boolean>,
): Promise<boolean> {
  if (!(await check(pid))) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // gone meanwhile
  }
}

/** SIGKILL to `pid` while `check` holds, then waits (up to `timeoutMs`) until it is gone. */
export async function killAndWait(
  pid: number,
  check: (pid: number) => Promise<boolean>,
  timeoutMs = 5_000,
): Promise<boolean> {
  if (!(await signalIf(pid, "SIGKILL", check))) return false;
  await waitGone(() => check(pid), timeoutMs);
  return true;
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  startTime: number;
  /** NUL-separated, as /proc gives it. */
  cmdline: string;
  environ: string;
}

/** Every live (not zombie) process this user may read, from /proc. */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = await procStat(pid);
    if (!stat || stat.state === "Z") continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
      found.push({ pid, ppid: stat.ppid, startTime: stat.startTime, cmdline, environ });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}
