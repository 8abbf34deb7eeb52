"use client";

import { useState } from "react";
import type { z } from "zod";
import { filterToQuery } from "~/lib/audit.ts";
import { writeAddress } from "./controls";

type Scope = { namespace: string; sandbox: string };

/**
 * A view's filter, kept in the address bar: a patch is merged, emptied
 * fields dropped, and the whole validated by the view's schema; a refused
 * patch leaves the filter as it was and says why, per field. `scope`
 * (a sandbox's own tab) fixes namespace and sandbox and keeps them out of
 * the address, which already names the sandbox.
 */
export function useAddressFilter<S extends z.ZodType<Record<string, unknown>>>(options: {
  schema: S;
  initial: z.infer<S>;
  keys: readonly string[];
  scope?: Scope | undefined;
}) {
  const { schema, keys, scope } = options;
  const [filter, setFilter] = useState<z.infer<S>>(() =>
    scope ? { ...options.initial, ...scope } : options.initial,
  );
  const [issues, setIssues] = useState<Record<string, string>>({});
  const update = (patch: Record<string, string | undefined>) => {
    const merged: Record<string, unknown> = { ...filter, ...patch, ...scope };
    for (const key of Object.keys(merged)) if (merged[key] === "") delete merged[key];
    const parsed = schema.safeParse(merged);
    if (!parsed.success) {
      setIssues(Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message])));
      return;
    }
    setIssues({});
    setFilter(parsed.data);
    const { namespace: _n, sandbox: _s, ...unscoped } = parsed.data;
    writeAddress(filterToQuery(scope ? unscoped : parsed.data), keys);
  };
  return { filter, update, issues };
}

/** What a refused filter change was refused for. */
export function FilterIssues({ issues }: { issues: Record<string, string> }) {
  const entries = Object.entries(issues);
  if (!entries.length) return null;
  return (
    <p role="alert" className="text-sm text-red-700" data-testid="filter-error">
      {entries.map(([field, message]) => `${field} ${message}`).join("; ")}
    </p>
  );
}
