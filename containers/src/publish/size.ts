import { readFile } from "node:fs/promises";
import { join } from "node:path";

interface Descriptor {
  digest: string;
  size: number;
}

async function blob<T>(layout: string, digest: string): Promise<T> {
  const [algorithm, hex] = digest.split(":");
  return JSON.parse(await readFile(join(layout, "blobs", algorithm ?? "", hex ?? ""), "utf8")) as T;
}

/** The manifest of the one image in a layout (its index's first entry). */
export async function layoutManifest(
  layout: string,
): Promise<{ config: Descriptor; layers: Descriptor[] }> {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
    manifests: Descriptor[];
  };
  const first = index.manifests[0];
  if (!first) throw new Error(`${layout} holds no image`);
  return blob(layout, first.digest);
}

/** What pulling the image transfers: its compressed layers and config, in bytes. */
export async function layoutSize(layout: string): Promise<number> {
  const manifest = await layoutManifest(layout);
  return manifest.layers.reduce((sum, layer) => sum + layer.size, manifest.config.size);
}

/** The image's config (entrypoint, user, labels, env) as the runtime reads it. */
export async function layoutConfig(layout: string): Promise<{
  config: {
    Entrypoint?: string[];
    User?: string;
    Env?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
  };
}> {
  const manifest = await layoutManifest(layout);
  return blob(layout, manifest.config.digest);
}
