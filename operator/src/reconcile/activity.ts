import type { ObservedSandbox } from "@turgon/api/agent";
import { isReady, type Sandbox, type SandboxNode } from "@turgon/api/crd";
import type { AgentClient } from "../agents/client.ts";
import { lifecycleDeadline } from "./lifecycle.ts";
import type { EffectiveSpec } from "./template.ts";

/**
 * The latest ingress or exec activity each agent reported, for idleTimeout.
 * Activity does not stream (it would flood), so before a sandbox is ended
 * for idleness its agent is asked afresh.
 */
export class ActivityTracker {
  private readonly agents: AgentClient;
  /** The sandbox's node, when it is known and in the cache. */
  private readonly nodeOf: (sandbox: Sandbox) => SandboxNode | undefined;
  /** uid → the time of its latest activity. */
  private readonly latest = new Map<string, string>();

  constructor(options: {
    agents: AgentClient;
    nodeOf: (sandbox: Sandbox) => SandboxNode | undefined;
  }) {
    this.agents = options.agents;
    this.nodeOf = options.nodeOf;
  }

  /** Records what an agent said about a sandbox (a reply, or its event stream). */
  observe(sandbox: ObservedSandbox): void {
    if (sandbox.lastActivityAt) this.latest.set(sandbox.uid, sandbox.lastActivityAt);
  }

  /** The latest activity known, without asking anyone. */
  known(uid: string): string | undefined {
    return this.latest.get(uid);
  }

  /**
   * The latest activity, asking the sandbox's agent afresh when what is
   * known would end the sandbox (and its node is Ready to answer).
   */
  async confirmed(sandbox: Sandbox, spec: EffectiveSpec): Promise<string | undefined> {
    const uid = sandbox.metadata.uid as string;
    const known = this.latest.get(uid);
    if (!lifecycleDeadline(sandbox, spec, known).expired) return known;
    const node = this.nodeOf(sandbox);
    if (!node || !isReady(node)) return known;
    const observed = await this.agents.get(node.spec.address, uid).catch(() => undefined);
    if (observed) this.observe(observed);
    return this.latest.get(uid);
  }

  forget(uid: string): void {
    this.latest.delete(uid);
  }
}
