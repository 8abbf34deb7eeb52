import { createHash } from "node:crypto";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { verifyAssets } from "@earendil-works/gondolin";
import { ensureGuestDaemons, GUEST_DAEMONS } from "@turgon/guest/daemons";
import { INITRAMFS_INIT_SCRIPT, ROOTFS_INIT_SCRIPT } from "@turgon/guest/init";
import { importImage } from "@turgon/image-store";
import { type DebianPackage, ensureDebianPackages } from "@turgon/toolkit/apt";
import { cachedArtifact } from "@turgon/toolkit/cache";
import { withStep } from "@turgon/toolkit/progress";
import { commandExists } from "@turgon/toolkit/run";
import { type ImageRecipe, loadRecipe } from "../recipe/schema.ts";
import { buildInitramfs } from "./initramfs.ts";
import { fetchKernel } from "./kernel.ts";
import { INITRAMFS_FILE, KERNEL_FILE, ROOTFS_FILE, writeManifest } from "./manifest.ts";
import { buildRootfs, ensureDebianBase } from "./rootfs.ts";

/** Bump when the builder's output changes for the same inputs. */
const BUILDER_REVISION = 1;

const tool = (name: string, program: string): DebianPackage => ({
  name,
  isInstalled: () => commandExists(program),
});

/** Host programs the builder runs. */
export const BUILDER_PACKAGES: DebianPackage[] = [
  tool("debootstrap", "debootstrap"),
  tool("kmod", "depmod"),
  tool("cpio", "cpio"),
  tool("lz4", "lz4"),
  tool("e2fsprogs", "mke2fs"),
];

export interface BuiltImage {
  /** `name:tag` in the image store. */
  ref: string;
  /** The cached image directory (also imported into the store). */
  dir: string;
  buildId: string;
  /** False when nothing had changed and the cached image was reused. */
  built: boolean;
}

/**
 * The build cache's key for a recipe: a digest over everything that goes
 * into the image (the recipe, the Debian base, the guest daemons, the init
 * scripts and the builder). A change to any of them is a new key, so a
 * rebuild; nothing changed is the same key, so the cached image.
 */
export async function imageCacheKey(recipe: ImageRecipe): Promise<string> {
  return (await imageInputs(recipe)).key;
}

/** What a build reads, made ready (each cached on its own inputs), and the cache key over them. */
async function imageInputs(
  recipe: ImageRecipe,
): Promise<{ key: string; daemonsDir: string; baseTar: string }> {
  await ensureDebianPackages(BUILDER_PACKAGES);
  const daemonsDir = await ensureGuestDaemons();
  const baseTar = await ensureDebianBase(recipe.debian);
  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        recipe,
        BUILDER_REVISION,
        daemons: daemonsDir,
        base: basename(join(baseTar, "..")),
      }),
    )
    .update(await readFile(INITRAMFS_INIT_SCRIPT))
    .update(await readFile(ROOTFS_INIT_SCRIPT))
    .digest("hex")
    .slice(0, 12);
  return { key: `image-${recipe.name}-${digest}`, daemonsDir, baseTar };
}

/**
 * Builds the image a recipe describes unless an identical one exists
 * (`imageCacheKey`), then imports it as `name:tag`.
 */
export async function ensureImage(recipeName: string): Promise<BuiltImage> {
  const recipe = await loadRecipe(recipeName);
  const { key, daemonsDir, baseTar } = await imageInputs(recipe);

  const { dir, built } = await cachedArtifact(key, (outDir) =>
    withStep(`building guest image ${recipe.name}:${recipe.tag}`, async (progress) => {
      const work = await mkdtemp(join(tmpdir(), "turgon-image-"));
      try {
        progress.update("kernel");
        const kernel = await fetchKernel(recipe.kernel.package, work);
        await rename(kernel.vmlinuz, join(outDir, KERNEL_FILE));
        progress.update("initramfs");
        await buildInitramfs({
          kernel,
          modules: recipe.kernel.modules,
          initScript: INITRAMFS_INIT_SCRIPT,
          workDir: work,
          output: join(outDir, INITRAMFS_FILE),
        });
        progress.update("rootfs");
        await buildRootfs({
          recipe,
          baseTar,
          daemonsDir,
          daemons: GUEST_DAEMONS,
          initScript: ROOTFS_INIT_SCRIPT,
          workDir: work,
          output: join(outDir, ROOTFS_FILE),
        });
        await writeManifest(outDir, recipe.rootfs.defaultMode);
        if (!verifyAssets(outDir)) throw new Error(`Gondolin rejected the checksums of ${outDir}`);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }),
  );
  const ref = `${recipe.name}:${recipe.tag}`;
  const imported = importImage(dir, ref);
  return { ref, dir, buildId: imported.buildId, built };
}
