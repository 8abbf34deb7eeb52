"use client";

import { useEffect, useState } from "react";

export const selectClass =
  "block rounded-md bg-white py-1.5 pr-8 pl-3 text-sm text-slate-900 outline-1 -outline-offset-1 outline-slate-300 focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600";
export const inputClass =
  "block w-36 rounded-md bg-white px-3 py-1.5 text-sm text-slate-900 outline-1 -outline-offset-1 outline-slate-300 placeholder:text-slate-400 focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600";
export const buttonClass =
  "inline-flex items-center gap-1.5 rounded-md bg-white px-3 py-1.5 text-sm font-semibold text-slate-900 shadow-xs ring-1 ring-slate-300 ring-inset hover:bg-slate-50 disabled:cursor-not-allowed disabled:opacity-50";

/** A select of fixed values; "" means no filter. */
export function FilterSelect({
  label,
  allLabel,
  value,
  values,
  onChange,
}: {
  label: string;
  allLabel: string;
  value: string | undefined;
  values: readonly string[];
  onChange: (value: string) => void;
}) {
  return (
    <select
      aria-label={label}
      value={value ?? ""}
      onChange={(event) => onChange(event.target.value)}
      className={`${selectClass} ${value ? "text-indigo-700 outline-indigo-300" : ""}`}
    >
      <option value="">{allLabel}</option>
      {values.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </select>
  );
}

/**
 * A free-text filter that applies on Enter or when it loses focus, not at
 * every keystroke (each application is a database query).
 */
export function TextFilter({
  label,
  placeholder,
  value,
  onCommit,
  error,
  className = "",
}: {
  label: string;
  placeholder: string;
  value: string | undefined;
  onCommit: (value: string) => void;
  error?: string | undefined;
  className?: string;
}) {
  const [draft, setDraft] = useState(value ?? "");
  // A filter changed elsewhere (a summary click, Clear) shows here too.
  useEffect(() => setDraft(value ?? ""), [value]);
  const commit = () => {
    if (draft.trim() !== (value ?? "")) onCommit(draft.trim());
  };
  return (
    <input
      type="search"
      aria-label={label}
      aria-invalid={error ? true : undefined}
      title={error ? `${label}: ${error}` : label}
      placeholder={placeholder}
      value={draft}
      onChange={(event) => setDraft(event.target.value)}
      onBlur={commit}
      onKeyDown={(event) => {
        if (event.key === "Enter") commit();
      }}
      className={`${inputClass} ${value ? "text-indigo-700 outline-indigo-300" : ""} ${
        error ? "outline-red-400" : ""
      } ${className}`}
    />
  );
}

/** Filter parameters the URL had that could not be used, by name. */
export function FilterErrors({ errors }: { errors: Record<string, string> }) {
  const entries = Object.entries(errors);
  if (!entries.length) return null;
  return (
    <div
      role="alert"
      data-testid="filter-errors"
      className="rounded-md bg-amber-50 p-3 text-sm text-amber-900 ring-1 ring-amber-600/20"
    >
      <p className="font-medium">Some filters in the address were ignored:</p>
      <ul className="mt-1 list-inside list-disc">
        {entries.map(([field, message]) => (
          <li key={field}>
            <span className="font-mono">{field}</span> {message}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Writes a query string into the address bar without a navigation, keeping other parameters. */
export function writeAddress(query: string, keys: readonly string[]): void {
  const url = new URL(window.location.href);
  for (const key of keys) url.searchParams.delete(key);
  for (const [key, value] of new URLSearchParams(query)) url.searchParams.set(key, value);
  window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}`);
}

/** A datetime-local input's value for an ISO time, in the browser's zone. */
export function toLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}
