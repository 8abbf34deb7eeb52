import { AgentSandboxPhase } from "@turgon/api/agent";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SandboxManager } from "../sandboxes/manager.ts";
import type { Timing } from "../sandboxes/sandbox.ts";

/** The agent's Prometheus metrics, in a registry of its own. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly bootSeconds = new Histogram({
    name: "turgon_agent_vm_boot_seconds",
    help: "Time from a sandbox's creation to its VM serving (boot, ingress, routes, command).",
    buckets: [1, 2, 4, 8, 15, 30, 60, 120],
    registers: [this.registry],
  });
  readonly resumeSeconds = new Histogram({
    name: "turgon_agent_vm_resume_seconds",
    help: "Time from a resume request to the VM serving again from its disk checkpoint.",
    buckets: [1, 2, 4, 8, 15, 30, 60, 120],
    registers: [this.registry],
  });
  readonly suspendSeconds = new Histogram({
    name: "turgon_agent_vm_suspend_seconds",
    help: "Time to checkpoint a VM's disk and stop it.",
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30],
    registers: [this.registry],
  });
  readonly egressRequests = new Counter({
    name: "turgon_agent_egress_requests_total",
    help: "Egress HTTP(S) requests from guests, by policy decision.",
    labelNames: ["decision"] as const,
    registers: [this.registry],
  });
  readonly ingressSeconds = new Histogram({
    name: "turgon_agent_ingress_request_seconds",
    help: "Ingress requests through the agent, from arrival to the end of the response.",
    labelNames: ["code"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /**
   * Requests the sandboxes' own fronts answered (the router's usual path;
   * the agent's port is the fallback), counted by each supervisor and
   * reported within 5 s. Their durations stay in the supervisors: a
   * histogram cannot be summed from outside. Requests a front served while
   * no agent ran are not counted.
   */
  readonly frontRequests = new Counter({
    name: "turgon_agent_front_requests_total",
    help: "Ingress requests answered by the sandboxes' own fronts (in their supervisors), by status code.",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });

  readonly warmClaims = new Counter({
    name: "turgon_agent_warm_claims_total",
    help: "Sandboxes started from a warm pool's VM instead of a boot, by pool (namespace/name).",
    labelNames: ["pool"] as const,
    registers: [this.registry],
  });
  readonly warmClaimSeconds = new Histogram({
    name: "turgon_agent_warm_claim_seconds",
    help: "The agent's part of a claim: from the sandbox's PUT to its warm VM running it (policy, secrets, ingress, command, SSH).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** Records a claim of a warm VM. */
  observeClaim(pool: string, seconds: number): void {
    this.warmClaims.inc({ pool });
    this.warmClaimSeconds.observe(seconds);
  }

  /** Records a boot, resume or suspend duration. */
  observeTiming(kind: Timing, seconds: number): void {
    const histogram = {
      boot: this.bootSeconds,
      resume: this.resumeSeconds,
      suspend: this.suspendSeconds,
    };
    histogram[kind].observe(seconds);
  }

  /**
   * @param manager the sandboxes, for VMs by phase
   * @param auditBacklog bytes of audit events on this node that Redis has not taken yet
   */
  constructor(
    manager: () => SandboxManager | undefined,
    auditBacklog: () => Promise<number> = async () => 0,
  ) {
    new Gauge({
      name: "turgon_agent_audit_backlog_bytes",
      help: "Audit events spooled on this node (the agent's spool and every supervisor's) that Redis has not taken yet, in bytes. It grows while Redis is unreachable; the spools drop their oldest events past their bound.",
      registers: [this.registry],
      async collect() {
        this.set(await auditBacklog());
      },
    });
    new Gauge({
      name: "turgon_agent_vms",
      help: "Sandboxes on this node, by phase.",
      labelNames: ["phase"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const phase of AgentSandboxPhase.options) this.set({ phase }, 0);
        for (const sandbox of manager()?.list() ?? []) this.inc({ phase: sandbox.phase });
      },
    });
    new Gauge({
      name: "turgon_agent_warm_vms",
      help: "Warm VMs on this node by pool (namespace/name): booting or ready (state=all), and ready to be claimed (state=ready).",
      labelNames: ["pool", "state"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of manager()?.warm.list() ?? []) {
          const name = `${pool.namespace}/${pool.name}`;
          this.set({ pool: name, state: "all" }, pool.replicas);
          this.set({ pool: name, state: "ready" }, pool.readyReplicas);
        }
      },
    });
  }
}
