/**
 * Golden files of `helm template` for each charts/turgon/ci/*-values.yaml,
 * as Coder's chart tests keep them: a change to the chart shows up as a
 * diff of what it renders. `npm run charts:golden` rewrites them.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHART_DIR, renderChart } from "./helm.ts";

export const GOLDEN_DIR = fileURLToPath(new URL("./golden", import.meta.url));
export const CI_DIR = join(CHART_DIR, "ci");

/** The ci values files by name (`minimal` for ci/minimal-values.yaml). */
export async function ciValuesFiles(): Promise<Map<string, string>> {
  const files = (await readdir(CI_DIR)).filter((f) => f.endsWith("-values.yaml")).sort();
  return new Map(files.map((f) => [f.replace(/-values\.yaml$/, ""), join(CI_DIR, f)]));
}

export function goldenFile(name: string): string {
  return join(GOLDEN_DIR, `${name}.yaml`);
}

/** What the golden file of `valuesFile` must hold. */
export function renderGolden(valuesFile: string): Promise<string> {
  return renderChart({ valuesFiles: [valuesFile] });
}
