import type { Decision } from "~/lib/audit.ts";

const TONES: Record<Decision, string> = {
  allowed: "bg-emerald-50 text-emerald-700 ring-emerald-600/20",
  denied: "bg-red-50 text-red-700 ring-red-600/20",
  "would-deny": "bg-amber-50 text-amber-800 ring-amber-600/20",
};

/** allowed (green), denied (red), would-deny in report mode (amber). */
export function DecisionBadge({ decision }: { decision: Decision }) {
  return (
    <span
      data-testid="decision"
      className={`inline-flex items-center rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${TONES[decision]}`}
    >
      {decision}
    </span>
  );
}

/** The status code, coloured by class; "—" when no answer came. */
export function StatusCode({ status }: { status: number | null }) {
  if (status === null) return <span className="text-slate-400">—</span>;
  const tone =
    status >= 500
      ? "text-red-700"
      : status >= 400
        ? "text-amber-700"
        : status >= 300
          ? "text-slate-600"
          : "text-emerald-700";
  return <span className={`font-mono text-xs ${tone}`}>{status}</span>;
}
