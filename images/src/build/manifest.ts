import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type AssetManifest, loadAssetManifest } from "@earendil-works/gondolin";
import { v5 as uuidv5 } from "uuid";

export const KERNEL_FILE = "vmlinuz-virt";
export const INITRAMFS_FILE = "initramfs.cpio.lz4";
export const ROOTFS_FILE = "rootfs.ext4";

/** Namespace for Turgon image build ids (UUID v5 over the asset checksums). */
const BUILD_ID_NAMESPACE = "5d0c7d1e-3f1a-5b8e-9a47-1c2e8f6b0d34";

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/**
 * Writes manifest.json in Gondolin's asset-manifest format (version 1) and
 * reads it back with Gondolin's own loader. The build id is derived from the
 * checksums, so identical assets always get the same id.
 */
export async function writeManifest(
  dir: string,
  rootfsMode: "readonly" | "memory" | "cow",
): Promise<AssetManifest> {
  const checksums = {
    kernel: await sha256File(join(dir, KERNEL_FILE)),
    initramfs: await sha256File(join(dir, INITRAMFS_FILE)),
    rootfs: await sha256File(join(dir, ROOTFS_FILE)),
  };
  const manifest = {
    version: 1,
    buildId: uuidv5(
      `kernel=${checksums.kernel}\ninitramfs=${checksums.initramfs}\nrootfs=${checksums.rootfs}\narch=x86_64`,
      BUILD_ID_NAMESPACE,
    ),
    // Gondolin reads only `arch` from the build config at run time.
    config: { arch: "x86_64" },
    runtimeDefaults: { rootfsMode },
    buildTime: new Date().toISOString(),
    assets: { kernel: KERNEL_FILE, initramfs: INITRAMFS_FILE, rootfs: ROOTFS_FILE },
    checksums,
  };
  await writeFile(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const loaded = loadAssetManifest(dir);
  if (loaded?.buildId !== manifest.buildId)
    throw new Error(`Gondolin could not read the manifest in ${dir}`);
  return loaded;
}
