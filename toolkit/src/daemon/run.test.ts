import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import pino from "pino";
import { ConfigError } from "../flags.ts";
import { type Daemon, type DaemonIo, EXIT, runDaemon } from "./run.ts";

/** A process as runDaemon sees it: argv, env, captured output, recorded exits, signals on demand. */
function fakeProcess(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const handlers = new Map<string, () => void>();
  const codes: number[] = [];
  let exited: ((code: number) => void) | undefined;
  const exit = new Promise<number>((resolve) => {
    exited = resolve;
  });
  const io: DaemonIo = {
    argv,
    env,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    // runDaemon returns right after exit(), as a real process.exit never returns.
    exit: (code) => {
      codes.push(code);
      exited?.(code);
      return undefined as never;
    },
    onSignal: (signal, handler) => handlers.set(signal, handler),
  };
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const log = pino({ name: "demo", level: "info" }, sink);
  return { io, out, err, logs, log, handlers, exit, codes };
}

function demo(
  log: pino.Logger,
  overrides: Partial<Daemon<{ n: number }, { stop(): Promise<void> }>> = {},
): Daemon<{ n: number }, { stop(): Promise<void> }> {
  return {
    name: "demo",
    usage: () => "turgon-demo [flags]",
    version: "1.2.3",
    log,
    load: () => ({ n: 1 }),
    start: async () => ({ stop: async () => {} }),
    ...overrides,
  };
}

/** Runs the daemon and returns its one exit code, or undefined while it keeps running. */
async function outcome(
  promise: Promise<void>,
  p: { codes: number[] },
): Promise<number | undefined> {
  await promise;
  assert.ok(p.codes.length <= 1, `one exit, not ${p.codes.join(", ")}`);
  return p.codes[0];
}

describe("runDaemon", () => {
  for (const flag of ["--help", "-h"])
    it(`${flag} prints usage and exits 0 before reading anything, even a bad TURGON_LOG_LEVEL`, async () => {
      const p = fakeProcess(["--workers", "x", flag], { TURGON_LOG_LEVEL: "nonsense" });
      let loaded = false;
      const code = await outcome(
        runDaemon(
          demo(p.log, {
            load: () => {
              loaded = true;
              return { n: 1 };
            },
          }),
          p.io,
        ),
        p,
      );
      assert.equal(code, EXIT.ok);
      assert.deepEqual(p.out, ["turgon-demo [flags]\n\nturgon-demo 1.2.3"]);
      assert.equal(loaded, false);
    });

  it("--version prints the command and its version alone and exits 0 before reading anything", async () => {
    const p = fakeProcess(["--version", "--workers", "x"], { TURGON_LOG_LEVEL: "nonsense" });
    const code = await outcome(
      runDaemon(demo(p.log, { load: () => assert.fail("loaded") }), p.io),
      p,
    );
    assert.equal(code, EXIT.ok);
    assert.deepEqual(p.out, ["turgon-demo 1.2.3"]);
  });

  it("the release version is charts/package.json's (the chart's appVersion)", async () => {
    const { releaseVersion } = await import("./version.ts");
    const chart = JSON.parse(
      await readFile(new URL("../../../charts/package.json", import.meta.url), "utf8"),
    ) as { version: string };
    assert.equal(releaseVersion(), chart.version);
    assert.equal(releaseVersion("/nonexistent/package.json"), "unknown");
  });

  it("refuses an unknown TURGON_LOG_LEVEL naming the variable and the levels (exit 2)", async () => {
    const p = fakeProcess([], { TURGON_LOG_LEVEL: "loud" });
    assert.equal(await outcome(runDaemon(demo(p.log), p.io), p), EXIT.config);
    assert.match(
      p.err.join("\n"),
      /^turgon-demo: TURGON_LOG_LEVEL="loud" is not a log level: use one of fatal, error, warn, info, debug, trace, silent$/,
    );
  });

  it("sets the logger's level from TURGON_LOG_LEVEL", async () => {
    const p = fakeProcess([], { TURGON_LOG_LEVEL: "debug" });
    await outcome(runDaemon(demo(p.log), p.io), p);
    assert.equal(p.log.level, "debug");
  });

  it("a configuration error, while loading or starting, is one line on stderr and exit 2", async () => {
    for (const where of ["load", "start"] as const) {
      const p = fakeProcess([]);
      const fail = () => {
        throw new ConfigError("--x (TURGON_X) is required");
      };
      const daemon =
        where === "load" ? demo(p.log, { load: fail }) : demo(p.log, { start: async () => fail() });
      assert.equal(await outcome(runDaemon(daemon, p.io), p), EXIT.config, where);
      assert.deepEqual(p.err, ["turgon-demo: --x (TURGON_X) is required"], where);
      assert.equal(p.logs.length, 0, `${where}: nothing logged`);
    }
  });

  it("any other start failure is a fatal log line and exit 1", async () => {
    const p = fakeProcess([]);
    const daemon = demo(p.log, {
      start: async () => {
        throw new Error("port in use");
      },
    });
    assert.equal(await outcome(runDaemon(daemon, p.io), p), EXIT.failed);
    assert.equal(p.logs.at(-1)?.msg, "demo failed to start");
    assert.equal(p.logs.at(-1)?.level, 60);
    assert.match(JSON.stringify(p.logs.at(-1)?.err), /port in use/);
    assert.deepEqual(p.err, []);
  });

  it("logs '<name> started', then SIGTERM or SIGINT stops it once and exits 0", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const p = fakeProcess([]);
      let stops = 0;
      let finish: (() => void) | undefined;
      const daemon = demo(p.log, {
        start: async () => ({
          stop: () => {
            stops += 1;
            return new Promise<void>((resolve) => {
              finish = resolve;
            });
          },
        }),
        started: () => ({ url: "http://x" }),
        stopping: "closing things",
      });
      assert.equal(await outcome(runDaemon(daemon, p.io), p), undefined, "still running");
      assert.deepEqual(
        p.logs.map((l) => [l.msg, l.url]),
        [["demo started", "http://x"]],
      );
      p.handlers.get(signal)?.();
      assert.equal(stops, 1, signal);
      finish?.();
      assert.equal(await p.exit, EXIT.ok);
      assert.deepEqual(p.codes, [EXIT.ok]);
      assert.equal(p.logs.at(-1)?.msg, "shutting down: closing things");
    }
  });

  it("a second signal during the graceful stop exits 1 at once, without a second stop", async () => {
    const p = fakeProcess([]);
    let stops = 0;
    const daemon = demo(p.log, {
      start: async () => ({
        stop: () => {
          stops += 1;
          return new Promise<void>(() => {});
        },
      }),
    });
    await outcome(runDaemon(daemon, p.io), p);
    p.handlers.get("SIGTERM")?.();
    p.handlers.get("SIGINT")?.();
    assert.equal(stops, 1);
    assert.deepEqual(p.codes, [EXIT.failed]);
    assert.match(String(p.logs.at(-1)?.msg), /second signal/);
  });

  it("a failed graceful stop exits 1 with a fatal line", async () => {
    const p = fakeProcess([]);
    const daemon = demo(p.log, {
      start: async () => ({
        stop: async () => {
          throw new Error("stuck");
        },
      }),
    });
    await outcome(runDaemon(daemon, p.io), p);
    p.handlers.get("SIGTERM")?.();
    assert.equal(await p.exit, EXIT.failed);
  });

  it("control.fail logs fatal and exits 1 (a lost lease)", async () => {
    const p = fakeProcess([]);
    let fail: ((message: string) => never) | undefined;
    const daemon = demo(p.log, {
      start: async (_config, control) => {
        fail = control.fail;
        return { stop: async () => {} };
      },
    });
    await outcome(runDaemon(daemon, p.io), p);
    fail?.("leader election lost; exiting");
    assert.equal(await p.exit, EXIT.failed);
    assert.equal(p.logs.at(-1)?.msg, "leader election lost; exiting");
  });
});
