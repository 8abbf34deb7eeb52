"use client";

/** Whether a page's live updates (a tRPC subscription over SSE) are flowing. */
export function LiveIndicator({ status }: { status: "idle" | "connecting" | "pending" | "error" }) {
  const live = status === "pending";
  const label = live ? "Live" : status === "error" ? "Disconnected" : "Connecting…";
  return (
    <span
      data-testid="live-status"
      data-status={status}
      className="inline-flex items-center gap-1.5 rounded-full bg-white px-2.5 py-1 text-xs font-medium text-slate-600 ring-1 ring-slate-200"
      title={
        live ? "Changes appear as they happen" : "Reconnecting; changes made meanwhile will follow"
      }
    >
      <span className="relative flex size-2">
        {live ? (
          <span className="absolute inline-flex size-full animate-ping rounded-full bg-emerald-400 opacity-60" />
        ) : null}
        <span
          className={`relative inline-flex size-2 rounded-full ${
            live ? "bg-emerald-500" : status === "error" ? "bg-red-500" : "bg-amber-400"
          }`}
        />
      </span>
      {label}
    </span>
  );
}
