import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  type ImportedImage,
  importImageFromDirectory,
  type ResolvedImage,
  resolveImageSelector,
  setImageRef,
} from "@earendil-works/gondolin";

/**
 * Turgon's Gondolin image store: `$GONDOLIN_IMAGE_STORE`, else `images/` in
 * Turgon's cache (`$TURGON_CACHE_DIR`, `$XDG_CACHE_HOME/turgon` or
 * `~/.cache/turgon`).
 */
export function imageStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GONDOLIN_IMAGE_STORE) return resolve(env.GONDOLIN_IMAGE_STORE);
  if (env.TURGON_CACHE_DIR) return join(resolve(env.TURGON_CACHE_DIR), "images");
  return join(
    env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), ".cache"),
    "turgon",
    "images",
  );
}

/** Gondolin's store functions read GONDOLIN_IMAGE_STORE on each (synchronous) call. */
function inStore<T>(store: string, call: () => T): T {
  const previous = process.env.GONDOLIN_IMAGE_STORE;
  process.env.GONDOLIN_IMAGE_STORE = store;
  try {
    return call();
  } finally {
    if (previous === undefined) delete process.env.GONDOLIN_IMAGE_STORE;
    else process.env.GONDOLIN_IMAGE_STORE = previous;
  }
}

/** Imports a built image directory into the store and points `name:tag` at it. */
export function importImage(assetDir: string, ref: string, store = imageStoreDir()): ImportedImage {
  return inStore(store, () => {
    const imported = importImageFromDirectory(assetDir);
    setImageRef(ref, imported.buildId, imported.arch);
    return imported;
  });
}

export class ImageNotFoundError extends Error {
  readonly ref: string;

  constructor(ref: string, store: string, cause?: unknown) {
    super(
      `guest image "${ref}" is not in the image store ${store}: build it with \`npm run images\` (recipes live in images/recipes/)`,
      { cause },
    );
    this.ref = ref;
  }
}

/**
 * Resolves `name:tag`, a build id or a directory to an image directory,
 * locally only: unlike Gondolin's own resolution it never falls back to
 * downloading an image.
 */
export function resolveLocalImage(ref: string, store = imageStoreDir()): ResolvedImage {
  try {
    return inStore(store, () => resolveImageSelector(ref, "x86_64"));
  } catch (error) {
    throw new ImageNotFoundError(ref, store, error);
  }
}
