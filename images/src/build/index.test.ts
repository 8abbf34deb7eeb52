import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { describe, it } from "node:test";
import { loadAssetManifest, verifyAssets } from "@earendil-works/gondolin";
import { resolveLocalImage } from "@turgon/image-store";
import { loadRecipe } from "../recipe/schema.ts";
import { ensureImage, imageCacheKey } from "./index.ts";

describe("ensureImage", () => {
  it("skips the build when nothing changed and keeps the store's tag pointing at it", async () => {
    // The test platform's setup built (or found) the image already.
    const image = await ensureImage("debian-python");
    assert.equal(image.built, false);
    assert.equal(image.ref, "debian-python:latest");
    const resolved = resolveLocalImage(image.ref);
    assert.equal(resolved.buildId, image.buildId);
  });

  it("produces Gondolin's image layout with verified checksums", async () => {
    const { dir } = await ensureImage("debian-python");
    for (const file of ["vmlinuz-virt", "initramfs.cpio.lz4", "rootfs.ext4", "manifest.json"]) {
      assert.ok((await stat(join(dir, file))).size > 0, file);
    }
    assert.ok(verifyAssets(dir));
    const manifest = loadAssetManifest(dir);
    assert.equal(manifest?.config.arch, "x86_64");
    assert.equal(manifest?.runtimeDefaults?.rootfsMode, "cow");
    // lz4 legacy frame magic: what Linux's initramfs unpacker reads.
    const initramfs = await readFile(join(dir, "initramfs.cpio.lz4"));
    assert.equal(initramfs.readUInt32LE(0), 0x184c2102);
  });

  it("keys the cached image on the recipe, so a recipe change builds a new image", async () => {
    const recipe = await loadRecipe("debian-python");
    const image = await ensureImage("debian-python");
    const key = await imageCacheKey(recipe);
    assert.equal(basename(image.dir), key, "the cached image is the one the recipe's key names");
    assert.equal(await imageCacheKey(structuredClone(recipe)), key, "same inputs, same image");
    // Fields outside the Debian base, so the test does not debootstrap a new one.
    const changed = [
      { ...recipe, rootfs: { ...recipe.rootfs, freeSpaceMiB: recipe.rootfs.freeSpaceMiB + 1 } },
      { ...recipe, kernel: { ...recipe.kernel, modules: [...recipe.kernel.modules, "vsock"] } },
      { ...recipe, tag: "next" },
    ];
    for (const variant of changed)
      assert.notEqual(await imageCacheKey(variant), key, JSON.stringify(variant));
  });
});
