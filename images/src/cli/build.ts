import { readdir } from "node:fs/promises";
import { reportFailure } from "@turgon/toolkit/errors";
import { ensureImage } from "../build/index.ts";
import { RECIPES_DIR } from "../recipe/schema.ts";
import { imageStoreDir } from "../store/index.ts";

/** `npm run images [recipe ...]`: builds the named recipes (default: all) into the image store. */
async function main(): Promise<void> {
  const names = process.argv.slice(2);
  const recipes =
    names.length > 0
      ? names
      : (await readdir(RECIPES_DIR))
          .filter((f) => f.endsWith(".json"))
          .map((f) => f.slice(0, -".json".length));
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
