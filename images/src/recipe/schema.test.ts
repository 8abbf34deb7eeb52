import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadRecipe, RECIPES_DIR, RecipeError } from "./schema.ts";

describe("image recipes", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-recipes-"));
  after(() => rm(dir, { recursive: true, force: true }));

  it("every recipe in images/recipes/ is valid", async () => {
    const names = (await readdir(RECIPES_DIR))
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -5));
    assert.ok(names.includes("debian-python"));
    for (const name of names) assert.equal((await loadRecipe(name)).name, name);
  });

  it("names the offending field of a bad recipe", async () => {
    await writeFile(
      join(dir, "broken.json"),
      JSON.stringify({
        name: "broken",
        debian: { suite: "bookworm", packages: ["python3", "Not A Package"] },
        kernel: { modules: ["virtio_pci"] },
        rootfs: { freeSpaceMiB: -5 },
        colour: "blue",
      }),
    );
    await assert.rejects(loadRecipe("broken", dir), (error: unknown) => {
      assert.ok(error instanceof RecipeError);
      assert.match(error.message, /debian\.packages\.1: must be a Debian package name/);
      assert.match(error.message, /rootfs\.freeSpaceMiB/);
      assert.match(error.message, /colour/);
      return true;
    });
  });

  it("insists the recipe's name matches its file", async () => {
    await writeFile(
      join(dir, "renamed.json"),
      JSON.stringify({
        name: "other",
        debian: { suite: "bookworm" },
        kernel: { modules: ["fuse"] },
        rootfs: {},
      }),
    );
    await assert.rejects(loadRecipe("renamed", dir), /name: must match the file name "renamed"/);
  });
});
