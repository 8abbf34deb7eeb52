/** `npm run charts:readme`: rewrites the values table of charts/turgon/README.md from values.yaml. */
import { writeFile } from "node:fs/promises";
import { README, readmeWithValuesTable } from "../values-doc.ts";

await writeFile(README, await readmeWithValuesTable());
console.log(`wrote the values table of ${README}`);
