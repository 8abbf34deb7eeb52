/**
 * The developer commands read their arguments before doing anything:
 * --help prints what they take and starts nothing, and an argument they do
 * not take is refused by name with exit code 2. Spawned as npm runs them.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { run } from "@turgon/toolkit/run";
import { repoRoot } from "../paths.ts";

const stateDir = await mkdtemp(join(tmpdir(), "turgon-args-"));
const env = { ...process.env, TURGON_STATE_DIR: stateDir };
const cli = (name: string, args: string[]) =>
  run(process.execPath, [join(repoRoot, "dev/src/cli", `${name}.ts`), ...args], {
    env,
    cwd: repoRoot,
  });

describe("npm run up / down / status arguments", () => {
  after(() => rm(stateDir, { recursive: true, force: true }));

  for (const name of ["up", "down", "status"])
    it(`${name} --help prints what it takes and starts or stops nothing`, async () => {
      const result = await cli(name, ["--help"]);
      assert.equal(result.exitCode, 0, result.tail);
      assert.match(result.stdout, new RegExp(`^npm run ${name} --`));
      assert.match(result.stdout, /TURGON_STATE_DIR/);
      assert.deepEqual(await readdir(stateDir), [], "the state directory is untouched");
    });

  it("up's help names every port variable it reads", async () => {
    const { stdout } = await cli("up", ["-h"]);
    for (const variable of ["TURGON_APISERVER_PORT", "TURGON_ROUTER_PORT", "TURGON_WEB_PORT"])
      assert.match(stdout, new RegExp(variable));
  });

  for (const [name, args, named] of [
    ["up", ["--bogus"], /--bogus/],
    ["down", ["--force"], /--force/],
    ["status", ["extra"], /extra/],
  ] as const)
    it(`${name} ${args.join(" ")} is refused by name with exit code 2`, async () => {
      const result = await cli(name, [...args]);
      assert.equal(result.exitCode, 2, result.tail);
      assert.match(result.tail, named);
      assert.match(result.tail, new RegExp(`npm run ${name} -- --help`));
      assert.deepEqual(await readdir(stateDir), [], "nothing was started");
    });
});
