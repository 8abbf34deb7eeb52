"use client";

import { TerminalIcon } from "~/components/icons";
import { Card, EmptyState } from "~/components/page";
import { Terminal } from "~/components/terminal";
import type { DisplayPhase } from "~/lib/sandboxes.ts";

export interface TerminalSlotProps {
  namespace: string;
  name: string;
  uid: string;
  phase: DisplayPhase;
}

/**
 * The sandbox page's Terminal tab (`?tab=terminal`): the web terminal while
 * the sandbox runs; a shell cannot open in a VM that is not there.
 */
export function TerminalSlot({ namespace, name, phase }: TerminalSlotProps) {
  if (phase === "Running") return <Terminal namespace={namespace} name={name} />;
  return (
    <Card>
      <div data-testid="terminal-slot">
        <EmptyState icon={<TerminalIcon />} title="Terminal">
          <p>A shell opens here while the sandbox is Running.</p>
        </EmptyState>
      </div>
    </Card>
  );
}
