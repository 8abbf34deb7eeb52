import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The operator's Prometheus metrics, in a registry of its own. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileSeconds = new Histogram({
    name: "turgon_operator_reconcile_duration_seconds",
    help: "Time one reconcile of one object took, by controller and result.",
    labelNames: ["controller", "result"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "turgon_operator_reconcile_errors_total",
    help: "Reconciles that failed and were retried with backoff, by controller and error.",
    labelNames: ["controller", "error"] as const,
    registers: [this.registry],
  });
  readonly applyToReadySeconds = new Histogram({
    name: "turgon_operator_sandbox_apply_to_ready_seconds",
    help: "Time from a Sandbox's creation (kubectl apply) to its first Ready.",
    // Sub-second buckets: a claim from a warm pool is Ready without a boot.
    buckets: [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "turgon_operator_leader",
    help: "1 while this replica holds the leader Lease.",
    registers: [this.registry],
  });

  constructor(queueDepth: () => number) {
    new Gauge({
      name: "turgon_operator_queue_depth",
      help: "Keys waiting in the sandbox work queue.",
      registers: [this.registry],
      collect() {
        this.set(queueDepth());
      },
    });
  }
}
