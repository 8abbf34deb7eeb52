import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PortInUseError } from "@turgon/toolkit/errors";
import { startDaemon } from "./daemon.ts";
import {
  assertDaemonPortsFree,
  daemonPaths,
  daemonsStatus,
  recordStartedWith,
  runningDaemon,
  startedWith,
  stopLocalDaemon,
} from "./local-daemons.ts";
import { freePort } from "./ports.ts";

describe("local daemons", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-daemons-"));
  const listeners: Server[] = [];
  after(async () => {
    await stopLocalDaemon(stateDir, "sleeper", { graceMs: 1000 });
    for (const server of listeners) server.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  const start = async (name: string) => {
    const paths = daemonPaths(stateDir, name);
    await mkdir(paths.dir, { recursive: true });
    return startDaemon({
      name,
      executable: "sleep",
      args: ["60"],
      logFile: paths.logFile,
      pidFile: paths.pidFile,
    });
  };
  const listen = async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port }, resolve));
    listeners.push(server);
    return port;
  };

  it("reports a running daemon by name, and one never started as stopped", async () => {
    const record = await start("sleeper");
    assert.equal((await runningDaemon(stateDir, "sleeper"))?.pid, record.pid);
    const status = await daemonsStatus(stateDir, ["sleeper", "never-started"] as const);
    assert.equal(status.sleeper?.pid, record.pid);
    assert.equal(status["never-started"], undefined);
  });

  it("checks the ports of a daemon that will start, naming the variable, but not of ours that runs", async () => {
    const taken = await listen();
    await assert.rejects(
      assertDaemonPortsFree(stateDir, "redis", [{ port: taken, variable: "TURGON_REDIS_PORT" }]),
      (error: unknown) =>
        error instanceof PortInUseError &&
        error.service === "redis" &&
        /TURGON_REDIS_PORT=<port>/.test(error.hint),
    );
    await assertDaemonPortsFree(stateDir, "redis", [
      { port: await freePort(), variable: "TURGON_REDIS_PORT" },
    ]);
    if (!(await runningDaemon(stateDir, "sleeper"))) await start("sleeper");
    // Ours runs and holds its ports: not a conflict.
    await assertDaemonPortsFree(stateDir, "sleeper", [{ port: taken, variable: "X_PORT" }]);
  });

  it("never counts or stops a pid that now runs another program", async () => {
    const paths = daemonPaths(stateDir, "recycled");
    await mkdir(paths.dir, { recursive: true });
    // Our own test process, recorded as if it were a daemon called "redis-server".
    await writeFile(
      paths.pidFile,
      JSON.stringify({ name: "recycled", pid: process.pid, executable: "redis-server" }),
    );
    assert.equal(await runningDaemon(stateDir, "recycled"), undefined);
    assert.equal(await stopLocalDaemon(stateDir, "recycled"), "not-running");
  });

  it("remembers what a daemon was started from", async () => {
    await mkdir(daemonPaths(stateDir, "worker").dir, { recursive: true });
    assert.equal(await startedWith(stateDir, "worker"), "");
    await recordStartedWith(stateDir, "worker", "abc123 18083");
    assert.equal(await startedWith(stateDir, "worker"), "abc123 18083");
  });

  it("stops a daemon it started, and says so once", async () => {
    if (!(await runningDaemon(stateDir, "sleeper"))) await start("sleeper");
    assert.equal(await stopLocalDaemon(stateDir, "sleeper", { graceMs: 2000 }), "stopped");
    assert.equal(await runningDaemon(stateDir, "sleeper"), undefined);
    assert.equal(await stopLocalDaemon(stateDir, "sleeper"), "not-running");
  });
});
