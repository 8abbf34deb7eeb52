import { access, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cacheRoot } from "./root.ts";

export { cacheRoot };

const COMPLETE_MARKER = ".complete";
const LOCK_STALE_MS = 2 * 60 * 60 * 1000;

export interface CachedArtifact {
  dir: string;
  /** False when the artifact was already in the cache. */
  built: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns `<cache>/<key>`, building it first when absent. The build writes
 * into a scratch directory that is renamed into place only when complete, and
 * a lock directory keeps two processes (say `up` and `npm test`) from
 * building the same key at once.
 */
export async function cachedArtifact(
  key: string,
  build: (outDir: string) => Promise<void>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CachedArtifact> {
  const root = cacheRoot(env);
  const dir = join(root, key);
  if (await exists(join(dir, COMPLETE_MARKER))) return { dir, built: false };

  await mkdir(root, { recursive: true });
  const lock = `${dir}.lock`;
  await acquireLock(lock);
  try {
    if (await exists(join(dir, COMPLETE_MARKER))) return { dir, built: false };
    const scratch = `${dir}.partial-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    await mkdir(scratch, { recursive: true });
    try {
      await build(scratch);
      await writeFile(join(scratch, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
      await rm(dir, { recursive: true, force: true });
      await rename(scratch, dir);
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      throw error;
    }
    return { dir, built: true };
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function acquireLock(lock: string): Promise<void> {
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, "owner"), `${process.pid}\n`);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (await isStale(lock)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      await sleep(1000);
    }
  }
}

/** A lock is stale when its owner process is gone or it is very old. */
async function isStale(lock: string): Promise<boolean> {
  try {
    const owner = Number.parseInt(await readFile(join(lock, "owner"), "utf8"), 10);
    if (Number.isFinite(owner)) {
      try {
        process.kill(owner, 0);
      } catch {
        return true;
      }
    }
    return Date.now() - (await stat(lock)).mtimeMs > LOCK_STALE_MS;
  } catch {
    // The owner file is written right after mkdir; give the owner a moment.
    try {
      return Date.now() - (await stat(lock)).mtimeMs > 5_000;
    } catch {
      return true;
    }
  }
}
