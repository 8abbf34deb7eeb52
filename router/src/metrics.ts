import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
  readonly wakes = new Counter({
    name: "turgon_router_wakes_total",
    help: "Suspended sandboxes with wakeOnRequest the router set Running (once per sandbox however many requests wait), by outcome: resumed, changed (another replica or the owner changed it first, or it was recreated: nothing written), failed (the API server refused or could not be reached).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly wakeHeld = new Counter({
    name: "turgon_router_wake_held_requests_total",
    help: "Requests held for a waking sandbox, by outcome: served (it came up and the request went on), timeout (503 past --wake-timeout-seconds), full (503: --wake-max-held or the per-sandbox bound reached, not held), refused (the sandbox went another way: deleted, failed, suspended without wakeOnRequest), gone (the client left).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly wakeHeldNow = new Gauge({
    name: "turgon_router_wake_held_requests",
    help: "Requests held right now for waking sandboxes.",
    registers: [this.registry],
  });
  readonly wakeSeconds = new Histogram({
    name: "turgon_router_wake_hold_seconds",
    help: "How long requests were held for a waking sandbox, by outcome (served, timeout, refused).",
    labelNames: ["outcome"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "turgon_router_errors_total",
    help: "Requests the router answered itself, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
}
