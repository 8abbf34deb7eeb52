/**
 * Which process a pid names: /proc/<pid>/stat parsed after the last ')' (a
 * command name may hold spaces and parentheses), and no signal to a pid whose
 * start time is not the recorded one, through every caller that reaps a
 * recorded pid (a supervisor's QEMU, the agent's VM records). Real processes:
 * `sleep`, under a QEMU-like name where a caller checks for one.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SUPERVISOR_RECORD } from "@turgon/api/supervisor";
import { logger } from "../logger.ts";
import { VmRecords } from "../state/vm-records.ts";
import { supervisorPaths } from "./config.ts";
import {
  isProcess,
  isQemu,
  isSupervisor,
  isSupervisorCommand,
  isSupervisorEntry,
  listProcesses,
  parseProcStat,
  processStartTime,
  processStartTimeSync,
  QEMU_MARK,
  SUPERVISOR_MARK,
  signalIf,
  supervisorBundleName,
  supervisorEntryIndex,
  waitGone,
} from "./process-identity.ts";
import { reapSupervisor } from "./processes.ts";
import { readSupervisorRecord } from "./record.ts";

/** A stat line as the kernel writes it, with `comm` and field 22 (start time) as given. */
function statLine(pid: number, comm: string, startTime: number): string {
  // Fields 3..52: state, ppid, then zeros, with the start time at field 22.
  const fields: (string | number)[] = ["S", 4242, ...new Array<number>(48).fill(0)];
  fields[22 - 3] = startTime;
  return `${pid} (${comm}) ${fields.join(" ")}\n`;
}

describe("process identity", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-pid-"));
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  /** A real `sleep`, run as `argv0` (its command line) from an executable named `file`. */
  const sleeper = async (argv0: string, file = `sleep-${randomUUID()}`) => {
    const path = join(dir, file);
    await copyFile("/bin/sleep", path);
    const child = spawn(path, ["600"], { argv0, stdio: "ignore" });
    children.push(child);
    const pid = child.pid as number;
    let startTime: number | undefined;
    for (let i = 0; i < 100 && startTime === undefined; i++) {
      startTime = await processStartTime(pid);
      if (startTime === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(startTime !== undefined, "the sleeper runs");
    return { pid, startTime, child };
  };

  it("parses a stat line after the last ')', whatever the command name holds", () => {
    for (const comm of ["sleep", "a b", "x) y (z", ") S 1 2 3", "((()))", ""]) {
      const parsed = parseProcStat(statLine(77, comm, 123_456));
      assert.deepEqual(parsed, { state: "S", ppid: 4242, startTime: 123_456 }, comm);
    }
    assert.equal(parseProcStat(""), undefined, "an empty file (a process gone)");
    assert.equal(parseProcStat("77 (cut short"), undefined);
    assert.equal(parseProcStat("77 (sleep) S 1"), undefined, "a line without field 22");
  });

  it("knows a supervisor's entry of either build: main.ts (older agents, the fallback) or a bundle", () => {
    const uid = randomUUID();
    const bundle = `/opt/turgon/node-agent/.cache/supervisor/${supervisorBundleName("0123456789abcdef")}`;
    const options = JSON.stringify({ uid, stateDir: "/var/lib/turgon/agent" });
    for (const entry of ["/checkout/node-agent/src/supervisor/main.ts", bundle]) {
      assert.equal(isSupervisorEntry(entry), true, entry);
      const cmdline = ["node", "--max-semi-space-size=1", entry, options].join("\0");
      assert.equal(supervisorEntryIndex(cmdline), 2);
      assert.equal(isSupervisorCommand(cmdline, uid), true);
      assert.equal(isSupervisorCommand(cmdline, randomUUID()), false, "another sandbox's");
    }
    for (const other of [
      "/tmp/turgon-supervisor-0123456789abcdef.sock",
      "/x/turgon-supervisor.0123456789abcdef.mjs.123.tmp",
      "/x/turgon-supervisor.0123.mjs",
      "/checkout/node-agent/src/main.ts",
    ])
      assert.equal(isSupervisorEntry(other), false, other);
    assert.equal(supervisorEntryIndex(["node", "agent.ts", options].join("\0")), -1);
  });

  it("reads a real process whose name has spaces and parentheses", async () => {
    const { pid, startTime } = await sleeper("qemu-system-standin", "x) y (z");
    const stat = parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
    assert.equal(stat?.ppid, process.pid);
    assert.equal(stat?.startTime, startTime);
    assert.equal(processStartTimeSync(pid), startTime);
    assert.ok(startTime >= ((await processStartTime(process.pid)) ?? Infinity));
    assert.equal(await isQemu(pid), true, "the command line holds the mark");
    assert.equal(await isQemu(pid, startTime), true);
    assert.equal(await isQemu(pid, startTime + 1), false, "another start time: another process");
  });

  it("a zombie supervisor is gone: kill(pid, 0) still succeeds, but no check takes it for a live process", async () => {
    // A supervisor orphaned in a container whose PID 1 does not reap stays a zombie: its pid
    // answers kill(pid, 0) until reaped. Made for real: a stand-in whose command line holds a
    // supervisor's marks, started in the background by a shell that then becomes `sleep`,
    // which never waits for it, so it stays a zombie once killed.
    const uid = randomUUID();
    const fake = join(dir, uid, SUPERVISOR_MARK);
    await mkdir(join(fake, ".."), { recursive: true });
    await copyFile("/bin/sleep", fake);
    const parent = spawn(
      "/bin/sh",
      ["-c", '"$1" 600 & echo $!; exec sleep 600', "zombie-maker", fake],
      {
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    children.push(parent);
    const pid = Number(
      await new Promise<string>((resolve) =>
        parent.stdout?.once("data", (data) => resolve(String(data))),
      ),
    );
    assert.ok(Number.isSafeInteger(pid) && pid > 0);
    const until = async (what: string, ready: () => Promise<boolean>) => {
      const deadline = Date.now() + 5_000;
      while (!(await ready())) {
        assert.ok(Date.now() < deadline, what);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await until("the stand-in runs as a supervisor", () => isSupervisor(pid, uid));
    const startTime = await processStartTime(pid);
    assert.ok(startTime !== undefined);
    assert.equal(await isSupervisor(pid, uid, startTime), true);

    process.kill(pid, "SIGKILL");
    const state = async () => parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"))?.state;
    await until("the stand-in is a zombie", async () => (await state()) === "Z");
    assert.doesNotThrow(() => process.kill(pid, 0), "a zombie answers kill(pid, 0)");
    assert.equal(await isSupervisor(pid, uid), false);
    assert.equal(await isSupervisor(pid, uid, startTime), false);
    assert.equal(await processStartTime(pid), undefined);
    assert.equal(processStartTimeSync(pid), undefined);
    assert.equal(await waitGone(() => isSupervisor(pid, uid), 1_000), true);
    assert.equal(
      await signalIf(pid, "SIGTERM", (p) => isSupervisor(p, uid)),
      false,
      "not signalled",
    );
    assert.equal(
      (await listProcesses()).some((p) => p.pid === pid),
      false,
      "not listed",
    );
    assert.equal(await state(), "Z", "still a zombie: only its parent could reap it");
  });

  it("reapSupervisor leaves a QEMU pid alone whose start time is not the recorded one", async () => {
    const qemu = await sleeper(`${QEMU_MARK}-standin`);
    const uid = randomUUID();
    const paths = supervisorPaths(dir, uid);
    // The supervisor's pid is this test's own: not a supervisor, never signalled.
    const stale = { pid: process.pid, qemuPid: qemu.pid, qemuStartTime: qemu.startTime - 1 };
    await mkdir(paths.dir, { recursive: true });
    assert.equal(await reapSupervisor(dir, uid, stale), false, "nothing killed");
    assert.equal(await isQemu(qemu.pid, qemu.startTime), true, "the process lives on");

    await mkdir(paths.dir, { recursive: true });
    const current = { ...stale, qemuStartTime: qemu.startTime };
    assert.equal(await reapSupervisor(dir, uid, current), true, "the recorded QEMU is killed");
    assert.equal(await waitGone(() => isQemu(qemu.pid), 5_000), true);
  });

  it("VmRecords.reapOrphans kills only the QEMU that started at the recorded time", async () => {
    const records = new VmRecords(dir);
    const kept = await sleeper(`${QEMU_MARK}-kept`);
    const reaped = await sleeper(`${QEMU_MARK}-reaped`);
    await records.save("kept", kept.pid);
    await records.save("reaped", reaped.pid);
    // The first record now names a pid whose process started at another time (a reused pid).
    const path = join(dir, "vms", "kept.json");
    const record = JSON.parse(await readFile(path, "utf8"));
    assert.equal(record.pidStartTime, kept.startTime, "the start time is recorded");
    await writeFile(path, JSON.stringify({ ...record, pidStartTime: kept.startTime + 7 }));

    assert.deepEqual(await records.reapOrphans(logger), ["reaped"]);
    assert.equal(await isProcess(kept.pid, [QEMU_MARK], kept.startTime), true, "left alone");
    assert.equal(await isQemu(reaped.pid), false);
  });

  it("reads a supervisor's record: typed, and undefined when missing, torn or malformed", async () => {
    const recordDir = join(dir, "record");
    await mkdir(recordDir);
    const path = join(recordDir, SUPERVISOR_RECORD);
    assert.equal(await readSupervisorRecord(recordDir), undefined, "missing");
    const record = {
      uid: "u",
      protocol: 1,
      version: "1.2.3",
      pid: 10,
      qemuPid: 11,
      qemuStartTime: 12,
      startedAt: "2026-01-02T03:04:05.000Z",
      spoolDir: "/spool/u.1",
      addedByALaterBuild: true,
    };
    const text = JSON.stringify(record);
    await writeFile(path, text.slice(0, text.length / 2));
    assert.equal(await readSupervisorRecord(recordDir), undefined, "torn");
    await writeFile(path, JSON.stringify({ ...record, pid: "ten" }));
    assert.equal(await readSupervisorRecord(recordDir), undefined, "malformed");
    await writeFile(path, text);
    const { addedByALaterBuild: _, ...known } = record;
    assert.deepEqual(await readSupervisorRecord(recordDir), known, "a later build's field dropped");
  });
});
