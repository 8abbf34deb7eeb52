import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout this code runs from. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Where `npm run up` keeps its state: `<checkout>/.turgon`, overridable with TURGON_STATE_DIR. */
export function upStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TURGON_STATE_DIR ? resolve(env.TURGON_STATE_DIR) : join(repoRoot, ".turgon");
}
