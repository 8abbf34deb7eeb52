"use client";

import { useSyncExternalStore } from "react";

/**
 * Relative times that stay current: one shared one-second ticker; each
 * cell re-renders only when its own text changes ("4m" stays "4m" for a
 * minute), so a table of a thousand ages costs a thousand string
 * comparisons per second, not a thousand renders.
 */
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | undefined;
let now = Date.now();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!timer)
    timer = setInterval(() => {
      now = Date.now();
      for (const notify of listeners) notify();
    }, 1000);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

/** "12s", "4m", "3h", "5d": kubectl's AGE column, one unit. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const absolute = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "medium" });

export function formatTime(iso: string): string {
  return absolute.format(new Date(iso));
}

/** How long ago `iso` was, kept current; the exact time on hover. */
export function Age({ since, suffix = "" }: { since: string | null | undefined; suffix?: string }) {
  const at = since ? Date.parse(since) : Number.NaN;
  const text = useSyncExternalStore(
    subscribe,
    () => (Number.isNaN(at) ? "—" : `${formatAge(Date.now() - at)}${suffix}`),
    () => (Number.isNaN(at) ? "—" : `${formatAge(now - at)}${suffix}`),
  );
  if (!since || Number.isNaN(at)) return <span className="text-slate-400">—</span>;
  return (
    <time dateTime={since} title={formatTime(since)} suppressHydrationWarning>
      {text}
    </time>
  );
}

/** Whether more than `thresholdMs` has passed since `iso`, re-evaluated each second (staleness warnings). */
export function useElapsed(since: string | null | undefined, thresholdMs: number): boolean {
  const at = since ? Date.parse(since) : Number.NaN;
  return useSyncExternalStore(
    subscribe,
    () => !Number.isNaN(at) && Date.now() - at > thresholdMs,
    () => false,
  );
}

const short = new Intl.DateTimeFormat("en", {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** "Dec 1, 05:54:24": a table cell's time, in the browser's zone (the exact UTC time on hover). */
export function formatShortTime(iso: string): string {
  return short.format(new Date(iso));
}
