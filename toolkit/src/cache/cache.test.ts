import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cachedArtifact } from "./cache.ts";

describe("cachedArtifact", async () => {
  const cacheDir = await mkdtemp(join(tmpdir(), "turgon-cache-"));
  const env = { ...process.env, TURGON_CACHE_DIR: cacheDir };
  after(() => rm(cacheDir, { recursive: true, force: true }));

  it("builds once, then serves the cached copy", async () => {
    let builds = 0;
    const build = async (out: string) => {
      builds++;
      await writeFile(join(out, "artifact"), "v1");
    };
    const first = await cachedArtifact("thing-v1", build, env);
    const second = await cachedArtifact("thing-v1", build, env);
    assert.equal(first.built, true);
    assert.equal(second.built, false);
    assert.equal(builds, 1);
    assert.equal(await readFile(join(second.dir, "artifact"), "utf8"), "v1");
  });

  it("builds a key once even when asked concurrently", async () => {
    let builds = 0;
    const build = async (out: string) => {
      builds++;
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writeFile(join(out, "artifact"), "x");
    };
    const results = await Promise.all([
      cachedArtifact("concurrent", build, env),
      cachedArtifact("concurrent", build, env),
    ]);
    assert.equal(builds, 1);
    assert.deepEqual(results.map((r) => r.built).sort(), [false, true]);
  });

  it("caches nothing from a failed build, and the next call retries", async () => {
    await assert.rejects(
      cachedArtifact(
        "flaky",
        async (out) => {
          await writeFile(join(out, "half"), "partial");
          throw new Error("build broke");
        },
        env,
      ),
      /build broke/,
    );
    const retried = await cachedArtifact(
      "flaky",
      (out) => writeFile(join(out, "whole"), "ok"),
      env,
    );
    assert.equal(retried.built, true);
    await assert.rejects(readFile(join(retried.dir, "half")), { code: "ENOENT" });
  });
});
