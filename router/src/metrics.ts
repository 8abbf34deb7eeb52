import { Counter, Histogram, Registry } from "prom-client";

/** The router's Prometheus metrics. */
export class RouterMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "turgon_router_requests_total",
    help: "Requests through the router, by status code class and kind (http, websocket).",
    labelNames: ["code", "kind"] as const,
    registers: [this.registry],
  });
  readonly seconds = new Histogram({
    name: "turgon_router_request_duration_seconds",
    help: "From a request's arrival to the end of its response.",
    labelNames: ["code"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly frontFallbacks = new Counter({
    name: "turgon_router_front_fallbacks_total",
    help: "Requests a sandbox's own front did not take, sent to the agent's port or refused with 503 SandboxFrontUnavailable, by reason (refused, unreachable, connect-timeout, tls: the handshake failed, reset and timed-out: before the front's head, for GET/HEAD/OPTIONS only; misdirected: the front's own 421; marked-down: the front failed within the last 5 s).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "turgon_router_errors_total",
    help: "Requests the router answered itself, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
}
