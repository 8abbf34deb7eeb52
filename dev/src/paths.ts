import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout this code runs from. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Build caches live outside the checkout, keyed by version, so fresh clones
 * (CI's included) reuse them: `$XDG_CACHE_HOME/turgon` or `~/.cache/turgon`,
 * overridable with TURGON_CACHE_DIR.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TURGON_CACHE_DIR) return resolve(env.TURGON_CACHE_DIR);
  return join(
    env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), ".cache"),
    "turgon",
  );
}

/** Where `npm run up` keeps its state: `<checkout>/.turgon`, overridable with TURGON_STATE_DIR. */
export function upStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TURGON_STATE_DIR ? resolve(env.TURGON_STATE_DIR) : join(repoRoot, ".turgon");
}
