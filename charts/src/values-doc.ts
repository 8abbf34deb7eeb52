/**
 * The README's values table, from values.yaml: each key documented by a
 * `# -- ` comment above it becomes a row (its path, its default, the
 * comment). A documented key whose children are documented too is a
 * heading, left to its children.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { CHART_DIR } from "./helm.ts";

export interface ValueDoc {
  path: string;
  description: string;
  defaultValue: unknown;
}

const KEY = /^(\s*)([A-Za-z0-9_.-]+):(.*)$/;
const DOC = /^\s*# -- (.*)$/;

/** Every documented value of `valuesYaml`, in file order. */
export function documentedValues(valuesYaml: string): ValueDoc[] {
  const values = parse(valuesYaml) as Record<string, unknown>;
  const stack: { indent: number; key: string }[] = [];
  const docs: ValueDoc[] = [];
  let pending: string | undefined;
  for (const line of valuesYaml.split("\n")) {
    const doc = DOC.exec(line);
    if (doc) {
      pending = doc[1];
      continue;
    }
    const key = KEY.exec(line);
    if (!key || line.trimStart().startsWith("#") || line.trimStart().startsWith("- ")) {
      if (line.trim() === "") pending = undefined;
      continue;
    }
    const indent = (key[1] as string).length;
    while (stack.length > 0 && (stack.at(-1) as { indent: number }).indent >= indent) stack.pop();
    stack.push({ indent, key: key[2] as string });
    if (pending !== undefined) {
      const keys = stack.map((s) => s.key);
      docs.push({ path: keys.join("."), description: pending, defaultValue: at(values, keys) });
      pending = undefined;
    }
  }
  return docs.filter((d) => !docs.some((other) => other.path.startsWith(`${d.path}.`)));
}

function at(values: unknown, keys: string[]): unknown {
  return keys.reduce<unknown>(
    (node, key) => (node as Record<string, unknown> | undefined)?.[key],
    values,
  );
}

/** The Markdown table of `docs`, its columns padded as the formatter (biome) lays them out. */
export function valuesTable(docs: ValueDoc[]): string {
  const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
  const rows = [
    ["Key", "Default", "Description"],
    ...docs.map((d) => [
      `\`${d.path}\``,
      `\`${cell(JSON.stringify(d.defaultValue))}\``,
      cell(d.description),
    ]),
  ];
  const widths = [0, 1, 2].map((column) =>
    Math.max(3, ...rows.map((row) => (row[column] as string).length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((text, column) => text.padEnd(widths[column] as number)).join(" | ")} |`;
  const [header, ...body] = rows;
  return [
    line(header as string[]),
    line(widths.map((width) => "-".repeat(width))),
    ...body.map(line),
  ].join("\n");
}

const START = "<!-- values:start (generated from values.yaml by `npm run charts:readme`) -->";
const END = "<!-- values:end -->";
export const README = join(CHART_DIR, "README.md");

/** The README with its values table replaced by one generated from values.yaml. */
export async function readmeWithValuesTable(): Promise<string> {
  const readme = await readFile(README, "utf8");
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${README} lacks the markers ${START} … ${END}`);
  const table = valuesTable(
    documentedValues(await readFile(join(CHART_DIR, "values.yaml"), "utf8")),
  );
  return `${readme.slice(0, start)}${START}\n\n${table}\n\n${readme.slice(end)}`;
}
