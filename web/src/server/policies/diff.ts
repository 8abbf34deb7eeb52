/** A policy's rules as YAML, the unified diff between two versions, and the hosts a change adds or removes. */
import { createTwoFilesPatch } from "diff";
import { stringify } from "yaml";

/** The rules as YAML (the form the editor's YAML view and every diff use); "" for none. */
export function specYaml(spec: unknown): string {
  if (spec === undefined || spec === null) return "";
  return stringify(spec, { lineWidth: 0 });
}

/** A unified diff of the YAML of two versions of `name`'s rules; "" when they are the same. */
export function specDiff(name: string, before: unknown, after: unknown): string {
  const a = specYaml(before);
  const b = specYaml(after);
  if (a === b) return "";
  return createTwoFilesPatch(`a/${name}`, `b/${name}`, a, b, undefined, undefined, {
    context: 3,
  });
}

const hostsOf = (spec: unknown): string[] => {
  const hosts = (spec as { allowedHosts?: unknown } | null | undefined)?.allowedHosts;
  return Array.isArray(hosts) ? hosts.filter((h): h is string => typeof h === "string") : [];
};

/** Hosts in `after`'s allowedHosts and not in `before`'s, and the other way round. */
export function hostChanges(
  before: unknown,
  after: unknown,
): { added: string[]; removed: string[] } {
  const a = new Set(hostsOf(before).map((h) => h.toLowerCase()));
  const b = new Set(hostsOf(after).map((h) => h.toLowerCase()));
  return {
    added: [...b].filter((h) => !a.has(h)).sort(),
    removed: [...a].filter((h) => !b.has(h)).sort(),
  };
}
