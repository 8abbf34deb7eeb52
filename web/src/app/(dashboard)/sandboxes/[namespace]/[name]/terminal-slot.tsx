"use client";

import { TerminalIcon } from "~/components/icons";
import { Card, EmptyState } from "~/components/page";
import type { DisplayPhase } from "~/lib/sandboxes.ts";

export interface TerminalSlotProps {
  namespace: string;
  name: string;
  uid: string;
  phase: DisplayPhase;
}

/**
 * The sandbox page's Terminal tab. The web terminal (an xterm component and
 * an exec-token mutation) lands here: replace this body with
 * `<Terminal namespace={namespace} name={name} />`. Everything it needs
 * is in the props; the tab, its URL (`?tab=terminal`) and the page stay as they are.
 */
export function TerminalSlot({ phase }: TerminalSlotProps) {
  return (
    <Card>
      <div data-testid="terminal-slot">
        <EmptyState icon={<TerminalIcon />} title="Terminal">
          <p>
            {phase === "Running"
              ? "A shell in this sandbox's VM opens here once the web terminal is connected."
              : "A shell opens here while the sandbox is Running."}
          </p>
        </EmptyState>
      </div>
    </Card>
  );
}
