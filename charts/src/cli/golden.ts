/** `npm run charts:golden`: rewrites charts/src/golden/ from the chart and its ci values files. */
import { mkdir, writeFile } from "node:fs/promises";
import { ciValuesFiles, GOLDEN_DIR, goldenFile, renderGolden } from "../golden.ts";

await mkdir(GOLDEN_DIR, { recursive: true });
for (const [name, file] of await ciValuesFiles()) {
  await writeFile(goldenFile(name), await renderGolden(file));
  console.log(`wrote ${goldenFile(name)}`);
}
