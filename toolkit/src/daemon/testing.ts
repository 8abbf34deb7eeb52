/**
 * The command-line failures every daemon is tested for by spawning its
 * `main.ts`, as Gondolin's `cli-*-missing` tests do: the clear message on
 * stderr and the exit code a supervisor sees, not a function's return.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EXIT } from "./run.ts";

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <entry> ...args` with exactly `env` (plus PATH), killed after `timeoutMs`. */
export function runCli(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${entry} ${args.join(" ")}: still running after ${timeoutMs} ms\n${stderr}`),
      );
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A bearer token file in `dir` long enough for every daemon (16+ characters); its path. */
export async function tokenFile(dir: string): Promise<string> {
  const path = join(dir, "token");
  await writeFile(path, "a-token-of-sixteen-characters-or-more");
  return path;
}

export interface DaemonCliCases {
  /** `operator` for `turgon-operator`. */
  name: string;
  /** Absolute path of its `main.ts`. */
  entry: string;
  /**
   * Flags that pass validation but for the kubeconfig, given a scratch
   * directory (files such as tokens may be written there first).
   */
  validFlags(dir: string): Promise<string[]>;
  /** Flags with a required one left out, and what the refusal must say. */
  missing: { flags(dir: string): Promise<string[]>; message: RegExp };
  /** A numeric flag. */
  numberFlag: string;
}

/** The spawned-process suite each daemon runs: help, log level, flags, kubeconfig. */
export function describeDaemonCli(cases: DaemonCliCases): void {
  const command = `turgon-${cases.name}`;
  describe(`${command} on the command line (spawned)`, () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `turgon-cli-${cases.name}-`));
    });
    after(() => rm(dir, { recursive: true, force: true }));
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(cases.entry, args, env);
    const refused = (result: CliRun, message: RegExp) => {
      assert.equal(result.code, EXIT.config, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "", "nothing logged: the refusal is the only output");
    };

    for (const flag of ["--help", "-h"])
      it(`${flag} prints the usage and exits 0, even with TURGON_LOG_LEVEL=nonsense`, async () => {
        const result = await run([flag], { TURGON_LOG_LEVEL: "nonsense" });
        assert.equal(result.code, EXIT.ok, result.stderr);
        assert.match(result.stdout, new RegExp(`^${command} \\[flags\\]\\n[\\s\\S]*--kubeconfig`));
        assert.equal(result.stderr, "");
      });

    it("refuses TURGON_LOG_LEVEL=nonsense naming the variable", async () => {
      refused(
        await run(await cases.validFlags(dir), { TURGON_LOG_LEVEL: "nonsense" }),
        new RegExp(
          `^${command}: TURGON_LOG_LEVEL="nonsense" is not a log level: use one of fatal, error, warn, info, debug, trace, silent\\n$`,
        ),
      );
    });

    it("refuses a missing required flag", async () => {
      refused(await run(await cases.missing.flags(dir)), cases.missing.message);
    });

    it(`says --${cases.numberFlag} must be a number`, async () => {
      refused(
        await run([...(await cases.validFlags(dir)), `--${cases.numberFlag}`, "lots"]),
        new RegExp(
          `^${command}: invalid configuration:\\n {2}--${cases.numberFlag} \\([A-Z_]+\\) must be a number\\n$`,
        ),
      );
    });

    it("names an unreadable kubeconfig", async () => {
      const file = join(dir, "no-such.kubeconfig");
      refused(
        await run([...(await cases.validFlags(dir)), "--kubeconfig", file]),
        new RegExp(`^${command}: --kubeconfig \\(KUBECONFIG\\) ${file} cannot be read: ENOENT`),
      );
      refused(
        await run(await cases.validFlags(dir), { KUBECONFIG: file }),
        new RegExp(`${file} cannot be read`),
      );
    });

    it("outside a pod with no kubeconfig, says what to set", async () => {
      await writeFile(join(dir, "marker"), "");
      refused(
        await run(await cases.validFlags(dir)),
        new RegExp(
          `^${command}: no Kubernetes configuration: .*set --kubeconfig or KUBECONFIG to a kubeconfig file, or run in the cluster as its ServiceAccount`,
        ),
      );
    });
  });
}
