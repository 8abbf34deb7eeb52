"use client";

import { type ReactNode, useState } from "react";
import { Button } from "./form";

/** A destructive action that asks once more inline (no browser dialog) before it runs. */
export function ConfirmButton({
  children,
  confirmLabel,
  onConfirm,
  pending = false,
  label,
}: {
  children: ReactNode;
  /** The second button's text, naming what happens: "Remove ada@example.com". */
  confirmLabel: string;
  onConfirm: () => void;
  pending?: boolean;
  /** An accessible name for the first button when its text alone is ambiguous. */
  label?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <Button
        tone="ghost"
        size="sm"
        aria-label={label}
        onClick={() => setAsking(true)}
        disabled={pending}
      >
        {children}
      </Button>
    );
  return (
    <span className="inline-flex items-center gap-1.5">
      <Button
        tone="danger"
        size="sm"
        disabled={pending}
        onClick={() => {
          onConfirm();
          setAsking(false);
        }}
      >
        {pending ? "Working…" : confirmLabel}
      </Button>
      <Button tone="ghost" size="sm" onClick={() => setAsking(false)}>
        Cancel
      </Button>
    </span>
  );
}
