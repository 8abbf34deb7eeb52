import type { ObservedSandbox, ObservedWarmPool } from "@turgon/api/agent";
import type { SandboxNode } from "@turgon/api/crd";
import type { Logger } from "../logger.ts";
import type { AgentClient } from "./client.ts";

/**
 * Follows every node agent's event stream, so a sandbox is reconciled as
 * soon as its VM changes (booted, failed, suspended) rather than at the
 * next poll. Streams reconnect with backoff; the reconciler stays
 * level-triggered and correct without them.
 */
export class AgentEventStreams {
  private readonly agents: AgentClient;
  private readonly log: Logger;
  private readonly onSandbox: (sandbox: ObservedSandbox, deleted: boolean) => void;
  private readonly onConnected: (node: string) => void;
  private readonly onWarmPool: (node: string, pool: ObservedWarmPool, deleted: boolean) => void;
  private readonly streams = new Map<string, { address: string; abort: AbortController }>();

  constructor(options: {
    agents: AgentClient;
    log: Logger;
    /** Each change of a sandbox on the agent; `deleted` when the agent no longer has it. */
    onSandbox: (sandbox: ObservedSandbox, deleted: boolean) => void;
    /** Each (re)connection: a restarted agent knows no sandboxes until told again. */
    onConnected: (node: string) => void;
    /** A warm pool's counts changed on that node (or the pool was deleted there). */
    onWarmPool?: (node: string, pool: ObservedWarmPool, deleted: boolean) => void;
  }) {
    this.agents = options.agents;
    this.log = options.log.child({ component: "agent-streams" });
    this.onSandbox = options.onSandbox;
    this.onConnected = options.onConnected;
    this.onWarmPool = options.onWarmPool ?? (() => {});
  }

  /** Follows exactly these nodes' agents: new ones start, gone or moved ones stop. */
  sync(nodes: SandboxNode[]): void {
    const wanted = new Map(nodes.map((n) => [n.metadata.name as string, n.spec.address]));
    for (const [name, stream] of this.streams) {
      if (wanted.get(name) !== stream.address) {
        stream.abort.abort();
        this.streams.delete(name);
      }
    }
    for (const [name, address] of wanted) {
      if (this.streams.has(name)) continue;
      const abort = new AbortController();
      this.streams.set(name, { address, abort });
      void this.follow(name, address, abort.signal);
    }
  }

  private async follow(node: string, address: string, signal: AbortSignal): Promise<void> {
    let backoffMs = 500;
    while (!signal.aborted) {
      try {
        const opened = () => {
          backoffMs = 500;
          this.onConnected(node);
        };
        for await (const event of this.agents.events(address, signal, opened)) {
          if (event.type === "warmPool")
            this.onWarmPool(node, event.warmPool, event.deleted === true);
          else this.onSandbox(event.sandbox, event.type === "deleted");
        }
      } catch (error) {
        this.log.debug({ node, err: error }, "agent event stream broke; reconnecting");
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, backoffMs).unref());
      backoffMs = Math.min(backoffMs * 2, 30_000);
    }
  }

  stop(): void {
    for (const stream of this.streams.values()) stream.abort.abort();
    this.streams.clear();
  }
}
