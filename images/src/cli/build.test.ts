/**
 * `npm run images` reads its arguments before building: --help lists the
 * recipes, and an unknown option or recipe is refused by name with exit
 * code 2 and nothing built. Spawned as npm runs it.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { run } from "@turgon/toolkit/run";

const entry = join(dirname(fileURLToPath(import.meta.url)), "build.ts");
const store = await mkdtemp(join(tmpdir(), "turgon-images-args-"));
const images = (args: string[]) =>
  run(process.execPath, [entry, ...args], { env: { ...process.env, GONDOLIN_IMAGE_STORE: store } });

describe("npm run images arguments", () => {
  after(() => rm(store, { recursive: true, force: true }));

  it("--help lists the recipes and builds nothing", async () => {
    const result = await images(["--help"]);
    assert.equal(result.exitCode, 0, result.tail);
    assert.match(result.stdout, /^npm run images -- \[recipe \.\.\.\]/);
    assert.match(result.stdout, /debian-python/);
    assert.deepEqual(await readdir(store), []);
  });

  for (const [args, named] of [
    [["--rebuild"], /--rebuild/],
    [["no-such-recipe"], /unknown recipe "no-such-recipe"; the recipes are .*debian-python/],
  ] as const)
    it(`${args.join(" ")} is refused by name with exit code 2`, async () => {
      const result = await images([...args]);
      assert.equal(result.exitCode, 2, result.tail);
      assert.match(result.tail, named);
      assert.deepEqual(await readdir(store), [], "nothing was built");
    });
});
