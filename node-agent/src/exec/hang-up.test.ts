/**
 * The hang-up script run for real by Debian's sh on this host, on a session
 * of its own (the guest runs the same sh): every process of the session
 * gets SIGHUP; one moved to a session of its own does not.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { eventually } from "@turgon/dev/testing";
import { hangUpCommand, recordingLeader } from "./hang-up.ts";

const run = promisify(execFile);

/** The pids of the processes whose session is `session`. */
async function sessionMembers(session: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    if (Number(fields[3]) === session) members.push(Number(entry));
  }
  return members;
}

describe("hanging up a terminal session", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const step of cleanup) await step().catch(() => undefined);
  });

  it("sends SIGHUP to every process of the session, and to none outside it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "turgon-hang-up-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "leaders", "session.pid");
    const mark = join(dir, "escaped.pid");
    // A shell with a background job, a foreground job, and one job moved to a session of its own.
    const [cmd, ...args] = recordingLeader(file, [
      "/bin/sh",
      "-c",
      `sleep 300 & setsid sh -c 'echo $$ > ${mark}; exec sleep 300' & sleep 300`,
    ]);
    const leader = spawn(cmd as string, args, { detached: true, stdio: "ignore" });
    const ended = new Promise<NodeJS.Signals | null>((resolve) =>
      leader.once("exit", (_code, signal) => resolve(signal)),
    );
    const pid = leader.pid as number;
    cleanup.push(async () => void process.kill(-pid, "SIGKILL")); // already gone when the test passed
    await eventually(
      "the leader's pid file",
      () => readFile(file, "utf8").catch(() => ""),
      (s) => s.trim() === String(pid),
    );
    const escaped = Number(
      await eventually("the escaped job", () => readFile(mark, "utf8").catch(() => ""), Boolean),
    );
    cleanup.push(async () => void process.kill(escaped, "SIGKILL")); // it outlives the hang-up: by design
    await eventually(
      "both jobs in the session",
      () => sessionMembers(pid),
      (m) => m.length === 3,
    );

    const [sh, ...rest] = hangUpCommand(file);
    await run(sh as string, rest);

    assert.equal(
      await Promise.race([ended, delay(10_000, "still running after 10 s")]),
      "SIGHUP",
      "the leader was hung up",
    );
    await eventually(
      "no process left in the session",
      () => sessionMembers(pid),
      (m) => m.length === 0,
    );
    assert.ok((await sessionMembers(escaped)).includes(escaped), "the setsid job lives on");
    await assert.rejects(readFile(file), { code: "ENOENT" }, "the pid file is removed");
  });

  it("does nothing when the session never recorded its leader", async () => {
    const [sh, ...rest] = hangUpCommand(join(tmpdir(), "turgon-no-such-session.pid"));
    const { stdout, stderr } = await run(sh as string, rest);
    assert.equal(stdout + stderr, "");
  });
});
