/** Turgon's mark: the gate of a hidden city, in a rounded square. */
export function LogoMark({ className = "size-8" }: { className?: string }) {
  return (
    <svg viewBox="0 0 32 32" className={className} aria-hidden="true">
      <rect width="32" height="32" rx="8" className="fill-indigo-500" />
      <path
        d="M8 25V13.5L16 8l8 5.5V25h-5v-6a3 3 0 0 0-6 0v6Z"
        className="fill-white"
        fillOpacity="0.95"
      />
    </svg>
  );
}

export function Logo({ inverted = false }: { inverted?: boolean }) {
  return (
    <span className="flex items-center gap-2.5">
      <LogoMark />
      <span
        className={`text-lg font-semibold tracking-tight ${inverted ? "text-white" : "text-slate-900"}`}
      >
        Turgon
      </span>
    </span>
  );
}
