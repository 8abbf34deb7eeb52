"use client";

import { useState } from "react";

/**
 * A page's current tab, kept in the address (`?tab=<key>`; the first tab
 * leaves it out), so a reload or a shared link opens the same tab.
 */
export function useAddressTab<T extends string>(initial: T, first: T) {
  const [tab, setTab] = useState<T>(initial);
  const choose = (next: T) => {
    setTab(next);
    const url = new URL(window.location.href);
    if (next === first) url.searchParams.delete("tab");
    else url.searchParams.set("tab", next);
    window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}`);
  };
  return [tab, choose] as const;
}

/** A row of tabs over a page's views. */
export function Tabs<T extends string>({
  label,
  tabs,
  current,
  onChoose,
}: {
  /** What the views are, for assistive technology. */
  label: string;
  tabs: readonly (readonly [T, string])[];
  current: T;
  onChoose: (tab: T) => void;
}) {
  return (
    <div className="border-b border-slate-200">
      <div className="-mb-px flex gap-6" aria-label={label} role="tablist">
        {tabs.map(([key, title]) => (
          <button
            key={key}
            type="button"
            role="tab"
            aria-selected={current === key}
            onClick={() => onChoose(key)}
            className={`border-b-2 px-1 pb-3 text-sm font-medium ${
              current === key
                ? "border-indigo-500 text-indigo-600"
                : "border-transparent text-slate-500 hover:border-slate-300 hover:text-slate-700"
            }`}
          >
            {title}
          </button>
        ))}
      </div>
    </div>
  );
}
