/**
 * `npm run down` stops the supervisors of its own state directory and their
 * QEMU, and nothing of a sibling directory's (`/x/state` is not a prefix of
 * `/x/state-2`). Stand-in processes: a node process whose command line is a
 * supervisor's (entry, then its options) with a QEMU-named `sleep` child.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isProcess, processStartTime, waitGone } from "@turgon/node-agent/process-identity";
import { stopPlatform } from "../platform/index.ts";

/** Starts its QEMU stand-in, prints its pid, then waits (SIGTERM ends it, as a supervisor). */
const STAND_IN = `
const child = require("node:child_process").spawn("sleep", ["600"], { argv0: "qemu-system-standin", stdio: "ignore" });
child.on("spawn", () => console.log(child.pid));
setInterval(() => {}, 60_000);
`;

describe("npm run down: supervisors", async () => {
  const base = await mkdtemp(join(tmpdir(), "turgon-down-"));
  const stateDir = join(base, "state");
  const sibling = join(base, "state-2");
  const started: { pid: number; startTime: number }[] = [];
  after(async () => {
    for (const { pid, startTime } of started)
      if (await isProcess(pid, [], startTime)) process.kill(pid, "SIGKILL");
    await rm(base, { recursive: true, force: true });
  });

  /** A stand-in supervisor of an agent whose state directory is `agentStateDir`; its pid and its QEMU's. */
  const standIn = async (
    agentStateDir: string,
    entry = "/checkout/node-agent/src/supervisor/main.ts",
  ) => {
    const options = JSON.stringify({ uid: "stand-in", stateDir: agentStateDir });
    const child: ChildProcess = spawn(process.execPath, ["-e", STAND_IN, entry, options], {
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    child.unref();
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout?.once("data", (data: Buffer) => resolve(data.toString().trim()));
      child.once("exit", (code) => reject(new Error(`the stand-in exited (${code})`)));
    });
    child.stdout?.destroy();
    const pids = { supervisor: child.pid as number, qemu: Number(line) };
    for (const pid of Object.values(pids))
      started.push({ pid, startTime: (await processStartTime(pid)) as number });
    return pids;
  };

  const alive = (pid: number) => {
    const found = started.find((p) => p.pid === pid);
    return isProcess(pid, [], found?.startTime);
  };

  it("stops its own state directory's supervisors and their QEMU, not a sibling directory's", async () => {
    const own = await standIn(join(stateDir, "node-agent", "state"));
    // A supervisor run from the bundle (the agent's default since the bundle came).
    const bundled = await standIn(
      join(stateDir, "node-agent", "state"),
      "/checkout/node-agent/.cache/supervisor/turgon-supervisor.0123456789abcdef.mjs",
    );
    const other = await standIn(join(sibling, "node-agent", "state"));
    for (const pid of [...Object.values(own), ...Object.values(bundled), ...Object.values(other)])
      assert.equal(await alive(pid), true, `pid ${pid} runs before down`);

    await stopPlatform(stateDir);

    assert.equal(await waitGone(() => alive(own.supervisor), 5_000), true, "its supervisor");
    assert.equal(await waitGone(() => alive(own.qemu), 5_000), true, "its QEMU");
    assert.equal(await waitGone(() => alive(bundled.supervisor), 5_000), true, "its bundled one");
    assert.equal(await waitGone(() => alive(bundled.qemu), 5_000), true, "and that one's QEMU");
    assert.equal(await alive(other.supervisor), true, "the sibling's supervisor runs on");
    assert.equal(await alive(other.qemu), true, "the sibling's QEMU runs on");
  });
});
