/**
 * `npm run images:oci` reads its arguments before building or starting
 * anything: --help lists the components, and an unknown option or
 * component is refused by name with exit code 2, with no registry started
 * and nothing cached. Spawned as npm runs it, with a cache and a state
 * directory of its own.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { run } from "@turgon/toolkit/run";

const entry = join(dirname(fileURLToPath(import.meta.url)), "build.ts");
const scratch = await mkdtemp(join(tmpdir(), "turgon-images-oci-args-"));
const imagesOci = (args: string[]) =>
  run(process.execPath, [entry, ...args], {
    env: {
      ...process.env,
      TURGON_CACHE_DIR: join(scratch, "cache"),
      TURGON_STATE_DIR: join(scratch, "state"),
    },
  });

describe("npm run images:oci arguments", () => {
  after(() => rm(scratch, { recursive: true, force: true }));

  it("--help lists the components and the registry's port variable, and does nothing", async () => {
    const result = await imagesOci(["--help"]);
    assert.equal(result.exitCode, 0, result.tail);
    assert.match(result.stdout, /^npm run images:oci -- \[options\] \[component \.\.\.\]/);
    assert.match(result.stdout, /operator, router, node-agent, web, worker/);
    assert.match(result.stdout, /TURGON_REGISTRY_PORT/);
    assert.deepEqual(await readdir(scratch), []);
  });

  for (const [args, named] of [
    [["--rebuild"], /--rebuild/],
    [["operator", "no-such"], /unknown component "no-such"; the components are operator, router/],
  ] as const)
    it(`${args.join(" ")} is refused by name with exit code 2`, async () => {
      const result = await imagesOci([...args]);
      assert.equal(result.exitCode, 2, result.tail);
      assert.match(result.tail, named);
      assert.deepEqual(await readdir(scratch), [], "nothing was built or started");
    });
});
