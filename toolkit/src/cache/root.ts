import { homedir } from "node:os";
import { join, resolve } from "node:path";

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
