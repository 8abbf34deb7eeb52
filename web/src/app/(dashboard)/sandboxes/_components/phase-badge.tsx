import type { DisplayPhase } from "~/lib/sandboxes.ts";

const STYLES: Record<DisplayPhase, { badge: string; dot: string; pulse: boolean }> = {
  Pending: {
    badge: "bg-slate-50 text-slate-700 ring-slate-500/20",
    dot: "bg-slate-400",
    pulse: true,
  },
  Starting: { badge: "bg-sky-50 text-sky-700 ring-sky-600/20", dot: "bg-sky-500", pulse: true },
  Running: {
    badge: "bg-emerald-50 text-emerald-700 ring-emerald-600/20",
    dot: "bg-emerald-500",
    pulse: false,
  },
  Suspended: {
    badge: "bg-indigo-50 text-indigo-700 ring-indigo-600/20",
    dot: "bg-indigo-400",
    pulse: false,
  },
  Failed: { badge: "bg-red-50 text-red-700 ring-red-600/20", dot: "bg-red-500", pulse: false },
  Terminating: {
    badge: "bg-amber-50 text-amber-800 ring-amber-600/20",
    dot: "bg-amber-500",
    pulse: true,
  },
};

/** A sandbox's phase: a coloured dot that pulses while it is on its way somewhere. */
export function PhaseBadge({ phase, title }: { phase: DisplayPhase; title?: string | null }) {
  const style = STYLES[phase];
  return (
    <span
      data-testid="phase"
      data-phase={phase}
      title={title ?? undefined}
      className={`inline-flex items-center gap-1.5 rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${style.badge}`}
    >
      <span
        className={`size-1.5 rounded-full ${style.dot} ${style.pulse ? "animate-pulse" : ""}`}
      />
      {phase}
    </span>
  );
}
