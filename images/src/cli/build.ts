import { readdir } from "node:fs/promises";
import { imageStoreDir } from "@turgon/image-store";
import { readCommandLine, UsageError } from "@turgon/toolkit/command-line";
import { reportFailure } from "@turgon/toolkit/errors";
import { ensureImage } from "../build/index.ts";
import { RECIPES_DIR } from "../recipe/schema.ts";

/** `npm run images [recipe ...]`: builds the named recipes (default: all) into the image store. */
async function main(): Promise<void> {
  const known = (await readdir(RECIPES_DIR))
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length));
  const args = readCommandLine({
    command: "npm run images --",
    summary: `Builds guest images from their recipes (${RECIPES_DIR}) into the image store; an image whose inputs are unchanged is kept.`,
    positionals: {
      usage: "[recipe ...]",
      description: `recipes to build (default: all): ${known.join(", ")}`,
    },
    environment: {
      GONDOLIN_IMAGE_STORE: "the image store (default: images/ in Turgon's cache)",
      TURGON_CACHE_DIR: "Turgon's cache (default: $XDG_CACHE_HOME/turgon or ~/.cache/turgon)",
    },
  });
  if (!args) return;
  const unknown = args.positionals.filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown recipe ${unknown.map((n) => `"${n}"`).join(", ")}; the recipes are ${known.join(", ")}`,
      "npm run images --",
    );
  const recipes = args.positionals.length > 0 ? args.positionals : known;
  for (const name of recipes) {
    const image = await ensureImage(name);
    console.log(
      `${image.ref}  ${image.built ? "built" : "unchanged"}  build ${image.buildId}  ${image.dir}`,
    );
  }
  console.log(`image store: ${imageStoreDir()}`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
