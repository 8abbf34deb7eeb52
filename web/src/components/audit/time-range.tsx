"use client";

import { RANGE_PRESETS } from "~/lib/audit.ts";
import { inputClass, selectClass, toLocalInput } from "./controls";

const PRESET_LABELS: Record<string, string> = {
  "5m": "Last 5 minutes",
  "15m": "Last 15 minutes",
  "1h": "Last hour",
  "6h": "Last 6 hours",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  custom: "Custom range",
};

type Window = { range: string; from?: string | undefined; to?: string | undefined };

/** A preset, or a custom from/to (in the browser's zone; sent as UTC). */
export function TimeRange({
  value,
  onChange,
}: {
  value: Window;
  onChange: (next: { range: string; from: string | undefined; to: string | undefined }) => void;
}) {
  const fromLocal = (local: string) => (local ? new Date(local).toISOString() : undefined);
  return (
    <div className="flex flex-wrap items-center gap-2">
      <select
        aria-label="Time range"
        value={value.range}
        onChange={(event) => {
          const range = event.target.value;
          if (range === "custom")
            onChange({
              range,
              from: value.from ?? new Date(Date.now() - 3_600_000).toISOString(),
              to: value.to,
            });
          else onChange({ range, from: undefined, to: undefined });
        }}
        className={selectClass}
      >
        {[...RANGE_PRESETS, "custom"].map((preset) => (
          <option key={preset} value={preset}>
            {PRESET_LABELS[preset]}
          </option>
        ))}
      </select>
      {value.range === "custom" ? (
        <>
          <input
            type="datetime-local"
            aria-label="From"
            value={toLocalInput(value.from)}
            onChange={(event) =>
              event.target.value &&
              onChange({ range: "custom", from: fromLocal(event.target.value), to: value.to })
            }
            className={`${inputClass} w-48`}
          />
          <span className="text-sm text-slate-500">to</span>
          <input
            type="datetime-local"
            aria-label="To"
            value={toLocalInput(value.to)}
            onChange={(event) =>
              onChange({ range: "custom", from: value.from, to: fromLocal(event.target.value) })
            }
            className={`${inputClass} w-48`}
          />
        </>
      ) : null}
    </div>
  );
}
