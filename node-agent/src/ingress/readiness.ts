import { request } from "node:http";
import type { IngressAccess } from "@earendil-works/gondolin";
import type { IngressRoute, ObservedRoute } from "@turgon/api/crd";

export interface RouteReadinessState {
  ready: boolean;
  message: string;
}

/** What an unprobed sandbox reports: nothing has answered yet. */
export const NOT_PROBED: RouteReadinessState = {
  ready: false,
  message: "waiting for the guest's routes to answer",
};

const DEFAULT_PERIOD_S = 2;
const DEFAULT_TIMEOUT_S = 2;

/** One GET through the VM's ingress gateway: its status, or the error that stopped it. */
function get(gateway: IngressAccess, path: string, timeoutMs: number): Promise<number | Error> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: gateway.host,
        port: gateway.port,
        path,
        headers: { "user-agent": "turgon-readiness" },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error) => resolve(error));
    req.end();
  });
}

/** The path to request so the guest app sees `path` on this route. */
function requestPath(route: ObservedRoute, path: string): string {
  if (!route.stripPrefix) return path;
  return `${route.prefix.replace(/\/+$/, "")}${path}`;
}

/**
 * Probes one route through Gondolin's gateway, the way a user's request
 * goes: the gateway answers 502 when nothing accepts on the guest port, so
 * any other answer means the port serves; an httpGet probe wants 2xx or 3xx.
 */
export async function probeRoute(
  gateway: IngressAccess,
  route: ObservedRoute,
  probe: IngressRoute["readinessProbe"],
): Promise<string | undefined> {
  const timeoutMs = (probe?.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  const path = probe?.httpGet?.path;
  const answer = await get(gateway, requestPath(route, path ?? "/"), timeoutMs);
  const where = `route ${route.prefix} (:${route.port})`;
  if (answer instanceof Error) return `${where}: ${answer.message}`;
  if (answer === 502) return `${where}: nothing accepts connections on port ${route.port} yet`;
  if (path && (answer < 200 || answer >= 400)) return `${where}: GET ${path} answered ${answer}`;
  return undefined;
}

/**
 * Keeps probing a running sandbox's routes, as a kubelet keeps probing a
 * pod: the sandbox serves when every route passes, and stops serving when
 * one fails again. `onChange` fires when the verdict flips.
 */
export class RouteReadiness {
  private state: RouteReadinessState = NOT_PROBED;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly options: {
    gateway: IngressAccess;
    routes: () => ObservedRoute[];
    probes: () => IngressRoute[];
    onChange: () => void;
  };

  constructor(options: RouteReadiness["options"]) {
    this.options = options;
  }

  current(): RouteReadinessState {
    return this.state;
  }

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    const next = await this.check();
    if (this.stopped) return;
    if (next.ready !== this.state.ready || next.message !== this.state.message) {
      this.state = next;
      this.options.onChange();
    }
    const periods = this.options
      .probes()
      .map((r) => r.readinessProbe?.periodSeconds)
      .filter((p): p is number => p !== undefined);
    const period = periods.length ? Math.min(...periods) : DEFAULT_PERIOD_S;
    this.timer = setTimeout(() => void this.tick(), period * 1000);
    this.timer.unref();
  }

  private async check(): Promise<RouteReadinessState> {
    const routes = this.options.routes();
    if (routes.length === 0) return { ready: true, message: "no routes to serve" };
    const probes = new Map(this.options.probes().map((r) => [r.prefix, r.readinessProbe]));
    const failures = await Promise.all(
      routes.map((route) => probeRoute(this.options.gateway, route, probes.get(route.prefix))),
    );
    const failed = failures.filter((f): f is string => f !== undefined);
    return failed.length
      ? { ready: false, message: failed.join("; ") }
      : { ready: true, message: `serving ${routes.length} route(s)` };
  }
}
