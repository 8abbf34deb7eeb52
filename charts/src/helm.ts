/**
 * Helm, as the chart's tools and tests run it: the binary built from the Go
 * module proxy (dev/src/toolchain/helm.ts), its homes out of `$HOME`, and
 * the chart in this workspace.
 */
import { fileURLToPath } from "node:url";
import { ensureHelmBinary, helmEnvironment } from "@turgon/dev/helm";
import { DevError } from "@turgon/toolkit/errors";
import { type RunResult, run } from "@turgon/toolkit/run";

/** charts/turgon, the chart's directory. */
export const CHART_DIR = fileURLToPath(new URL("../turgon", import.meta.url));

/** Runs helm and returns its result, whatever the exit code. */
export async function helm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const binary = await ensureHelmBinary();
  return run(binary, args, { env: { ...(await helmEnvironment()), ...env } });
}

/** Runs helm and throws, with its output, unless it succeeds. */
export async function mustHelm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await helm(args, env);
  if (result.exitCode !== 0)
    throw new DevError(`helm ${args.join(" ")} failed (exit ${result.exitCode})`, result.tail);
  return result.stdout;
}

/**
 * `helm template` of the chart, with a fixed release name and namespace
 * so the output is the same on every machine.
 */
export function renderChart(
  options: { valuesFiles?: string[]; set?: string[]; showOnly?: string[] } = {},
  release = { name: "turgon", namespace: "turgon-system" },
): Promise<string> {
  return mustHelm([
    "template",
    release.name,
    CHART_DIR,
    "--namespace",
    release.namespace,
    ...(options.valuesFiles ?? []).flatMap((file) => ["--values", file]),
    ...(options.set ?? []).flatMap((value) => ["--set", value]),
    ...(options.showOnly ?? []).flatMap((template) => ["--show-only", template]),
  ]);
}

/** helm's output without its `# Source:` lines and the blank runs they leave. */
export function withoutSourceComments(rendered: string): string {
  return `${rendered
    .split("\n---\n")
    .map((doc) =>
      doc
        .split("\n")
        .filter((line) => !line.startsWith("# Source: "))
        .join("\n")
        .replace(/^---\n/, "")
        .trim(),
    )
    .filter(Boolean)
    .join("\n---\n")}\n`;
}
