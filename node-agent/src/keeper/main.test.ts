/**
 * The keeper's command line with the real agent, spawned (no VM): bad flags
 * are the agent's refusal once (exit 2, never a restart loop), and `--help`
 * is the agent's usage.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EXIT } from "@turgon/toolkit/daemon/run";
import { runCli } from "@turgon/toolkit/daemon/testing";

const KEEPER = fileURLToPath(new URL("./main.ts", import.meta.url));
const AGENT = fileURLToPath(new URL("../main.ts", import.meta.url));

/** The keeper's log lines (JSON, on stdout beside the agent's). */
const keeperLines = (stdout: string) =>
  stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { name: string; msg: string; code?: number })
    .filter((line) => line.name === "node-agent-keeper");

describe("turgon node agent keeper on the command line (spawned)", () => {
  it("bad flags: the agent refuses them once and the keeper exits 2, without restarting it", async () => {
    const started = performance.now();
    // The agent takes a second or two to refuse; a restart would wait a second more, then loop.
    const result = await runCli(KEEPER, ["--node-name", "n1", "--cpus", "lots"], {}, 20_000);
    const tookMs = performance.now() - started;
    assert.equal(result.code, EXIT.config, result.stderr);
    const refusals = result.stderr.match(/^turgon-node-agent: invalid configuration:$/gm) ?? [];
    assert.equal(refusals.length, 1, `the agent ran once:\n${result.stderr}`);
    assert.match(result.stderr, /--cpus \(TURGON_AGENT_CPUS\) must be a number/);
    const lines = keeperLines(result.stdout);
    assert.deepEqual(
      lines.map((line) => line.msg),
      ["started the node agent", "the node agent refused its configuration: not restarting it"],
    );
    assert.equal(lines[1]?.code, EXIT.config);
    assert.ok(tookMs < 15_000, `exited by itself (${Math.round(tookMs)} ms)`);
  });

  it("--version is the agent's answer, once, whatever it is", async () => {
    // Builds whose agent knows --version print it and exit 0; others refuse the flag (exit 2).
    const direct = await runCli(AGENT, ["--version"], {});
    const kept = await runCli(KEEPER, ["--version"], {}, 20_000);
    assert.deepEqual(kept, direct);
  });

  for (const flag of ["--help", "-h"])
    it(`${flag} is the agent's usage, exit 0, and nothing else`, async () => {
      const result = await runCli(KEEPER, [flag], {});
      assert.equal(result.code, EXIT.ok, result.stderr);
      assert.match(result.stdout, /^turgon-node-agent \[flags\]\n[\s\S]*--state-dir/);
      assert.equal(keeperLines(result.stdout).length, 0);
      assert.equal(result.stderr, "");
    });
});
