/**
 * The keeper's loop without a VM: it runs a stand-in agent (a small script
 * that records its starts and the signals it gets in a file) instead of the
 * real one, with a short backoff, so that restarts, the backoff schedule,
 * stop forwarding and the kill after the stop timeout show in seconds. The
 * real agent under the keeper, crash and all, is `keeper.test.ts`.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { type Keeper, startKeeper } from "./keeper.ts";

/** The stand-in: FAKE_AGENT_MODE says what it does once started. */
const FAKE_AGENT = `
import { appendFileSync } from "node:fs";
const note = (line) => appendFileSync(process.env.FAKE_AGENT_LOG, line + "\\n");
note("start " + process.pid);
note("args " + JSON.stringify(process.argv.slice(2)));
const mode = process.env.FAKE_AGENT_MODE;
if (mode === "crash") process.exit(1);
if (mode === "killed") process.kill(process.pid, "SIGKILL");
if (mode === "config") process.exit(2);
if (mode === "graceful") process.on("SIGTERM", () => { note("SIGTERM"); process.exit(0); });
if (mode === "stubborn") process.on("SIGTERM", () => note("SIGTERM ignored"));
setInterval(() => {}, 60_000);
note("ready");
`;

interface LogLine {
  msg: string;
  code?: number | null;
  signal?: string | null;
  restartInMs?: number;
  agentPid?: number;
}

describe("the keeper's loop (a stand-in agent)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-keeper-"));
  const entry = join(dir, "fake-agent.mjs");
  const keepers: Keeper[] = [];
  before(() => writeFile(entry, FAKE_AGENT));
  after(async () => {
    // A test that failed half-way leaves no process behind.
    for (const keeper of keepers) keeper.stop("SIGKILL");
    await Promise.all(keepers.map((keeper) => keeper.done));
    await rm(dir, { recursive: true, force: true });
  });

  /** A keeper of the stand-in in `mode`, its log lines, and what the stand-in noted. */
  const keep = (mode: string, stopTimeoutMs = 10_000, initialMs = 50) => {
    const notes = join(dir, `${mode}-${keepers.length}.log`);
    const lines: LogLine[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        for (const line of chunk.toString().split("\n").filter(Boolean))
          lines.push(JSON.parse(line));
        callback();
      },
    });
    const keeper = startKeeper({
      args: ["--some-flag", "value"],
      env: { ...process.env, FAKE_AGENT_LOG: notes, FAKE_AGENT_MODE: mode },
      log: pino({ level: "debug" }, sink),
      entry,
      backoff: { initialMs, maxMs: Math.max(initialMs, 200), resetAfterMs: 60_000 },
      stopTimeoutMs,
    });
    keepers.push(keeper);
    const noted = async () => (await readFile(notes, "utf8").catch(() => "")).split("\n");
    /** Waits (10 s at most) until `ready` holds. */
    const until = async (what: string, ready: () => Promise<boolean> | boolean) => {
      const deadline = Date.now() + 10_000;
      while (!(await ready())) {
        assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(lines)}`);
        await sleep(20);
      }
    };
    return { keeper, lines, noted, until };
  };

  it("starts an agent that exits by itself again, backing off 50, 100, 200, 200 ms", async () => {
    const { keeper, lines, noted, until } = keep("crash");
    await until(
      "five starts",
      async () => (await noted()).filter((l) => l.startsWith("start")).length >= 5,
    );
    keeper.stop("SIGTERM");
    // The stop lands while an agent runs (its code) or between two (0): either ends the loop.
    await keeper.done;
    const exits = lines.filter((line) => line.msg === "the node agent exited: restarting it");
    assert.ok(exits.length >= 4);
    assert.deepEqual(
      exits.slice(0, 4).map((line) => [line.code, line.restartInMs]),
      [
        [1, 50],
        [1, 100],
        [1, 200],
        [1, 200],
      ],
    );
    const starts = lines.filter((line) => line.msg === "started the node agent");
    assert.equal(starts.length, (await noted()).filter((l) => l.startsWith("start")).length);
    assert.equal(
      new Set(starts.map((line) => line.agentPid)).size,
      starts.length,
      "a new process each time",
    );
  });

  it("stopped while it waits to restart, exits 0 at once and starts nothing more", async () => {
    const { keeper, lines, noted, until } = keep("crash", 10_000, 60_000);
    await until("the first exit", () =>
      lines.some((l) => l.msg === "the node agent exited: restarting it"),
    );
    const started = performance.now();
    keeper.stop("SIGTERM");
    assert.equal(await keeper.done, 0);
    assert.ok(performance.now() - started < 5_000, "without waiting out the backoff");
    assert.equal((await noted()).filter((l) => l.startsWith("start")).length, 1);
    assert.ok(lines.some((l) => l.msg === "stopping: no node agent runs"));
  });

  it("restarts an agent killed by a signal, logging the signal", async () => {
    const { keeper, lines, until } = keep("killed");
    await until(
      "a restart",
      () => lines.filter((l) => l.msg === "started the node agent").length >= 2,
    );
    keeper.stop("SIGTERM");
    await keeper.done;
    const exit = lines.find((line) => line.msg === "the node agent exited: restarting it");
    assert.equal(exit?.signal, "SIGKILL");
    assert.equal(exit?.code, null);
  });

  it("does not restart an agent that refused its configuration: exits 2", async () => {
    const { keeper, lines, noted } = keep("config");
    assert.equal(await keeper.done, 2);
    assert.equal((await noted()).filter((l) => l.startsWith("start")).length, 1, "started once");
    assert.equal(lines.filter((l) => l.msg === "started the node agent").length, 1);
    assert.ok(
      lines.some((l) => l.msg === "the node agent refused its configuration: not restarting it"),
    );
    assert.equal(keeper.agentPid(), undefined);
  });

  it("passes SIGTERM on to the agent, exits with its code, and never restarts it", async () => {
    const { keeper, lines, noted, until } = keep("graceful");
    await until("the agent is ready", async () => (await noted()).includes("ready"));
    const pid = keeper.agentPid();
    assert.ok(pid);
    keeper.stop("SIGTERM");
    assert.equal(await keeper.done, 0);
    assert.ok((await noted()).includes("SIGTERM"), "the agent got the signal");
    assert.ok((await noted()).includes('args ["--some-flag","value"]'), "with the keeper's flags");
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, "the agent is gone (and reaped)");
    assert.equal(lines.filter((l) => l.msg === "started the node agent").length, 1, "no restart");
    assert.ok(lines.some((l) => l.msg === "the node agent stopped" && l.code === 0));
  });

  it("kills an agent that does not stop within the stop timeout: exit 137", async () => {
    const { keeper, lines, noted, until } = keep("stubborn", 300);
    await until("the agent is ready", async () => (await noted()).includes("ready"));
    const started = performance.now();
    keeper.stop("SIGTERM");
    assert.equal(await keeper.done, 128 + 9, "SIGKILL");
    assert.ok(performance.now() - started >= 300, "not before the timeout");
    assert.ok((await noted()).includes("SIGTERM ignored"));
    assert.ok(lines.some((l) => l.msg === "the node agent did not stop in time: killing it"));
    assert.equal(lines.filter((l) => l.msg === "started the node agent").length, 1, "no restart");
  });
});
