import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { connect } from "node:net";
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

/** Until a sandbox serves, its routes are probed this often, so Ready follows the app closely. */
const STARTING_PERIOD_S = 2;
/** Once it serves, as a kubelet's default: a node of many sandboxes is not kept busy probing. */
const SERVING_PERIOD_S = 10;
const DEFAULT_TIMEOUT_S = 2;
/**
 * A starting sandbox's first probes come sooner: 100 ms after the first,
 * doubling up to the starting period. An app that is up in a fraction of a
 * second (a claimed warm VM's) is Ready then, not a period later.
 */
const FIRST_RETRY_MS = 100;

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

/**
 * A WebSocket handshake through the gateway: the status line of the answer
 * (101 from a WebSocket server), or the error. For routes that serve only
 * WebSockets and drop a plain GET.
 */
function handshake(
  gateway: IngressAccess,
  path: string,
  timeoutMs: number,
): Promise<number | Error> {
  return new Promise((resolve) => {
    const socket = connect(gateway.port, gateway.host);
    let answer = "";
    const done = (result: number | Error) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on("connect", () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nhost: ${gateway.host}\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${randomBytes(16).toString("base64")}\r\nuser-agent: turgon-readiness\r\n\r\n`,
      ),
    );
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      if (status) done(Number(status[1]));
    });
    socket.on("error", done);
    socket.on("close", () => done(new Error("closed without an answer")));
  });
}

/** The path to request so the guest app sees `path` on this route; without one, the route itself. */
function requestPath(route: ObservedRoute, path: string | undefined): string {
  if (path === undefined) return route.prefix;
  if (!route.stripPrefix) return path;
  return `${route.prefix.replace(/\/+$/, "")}${path}`;
}

/**
 * Probes one route through Gondolin's gateway, the way a user's request
 * goes. By default the route serves when it answers at all, to a GET or to
 * a WebSocket handshake (the gateway says 502 when nothing answered on the
 * guest port); an httpGet probe wants 2xx or 3xx for its path.
 */
export async function probeRoute(
  gateway: IngressAccess,
  route: ObservedRoute,
  probe: IngressRoute["readinessProbe"],
): Promise<string | undefined> {
  const timeoutMs = (probe?.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  const path = probe?.httpGet?.path;
  const answer = await get(gateway, requestPath(route, path), timeoutMs);
  const where = `route ${route.prefix} (:${route.port})`;
  if (answer instanceof Error) return `${where}: ${answer.message}`;
  if (path)
    return answer >= 200 && answer < 400 ? undefined : `${where}: GET ${path} answered ${answer}`;
  if (answer !== 502) return undefined;
  // A WebSocket-only server may drop a plain GET: a handshake it answers counts too.
  const upgraded = await handshake(gateway, requestPath(route, undefined), timeoutMs);
  if (typeof upgraded === "number" && upgraded !== 502) return undefined;
  return `${where}: nothing answers on port ${route.port} yet`;
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
  /** Probes in a row that found the sandbox not serving (the starting back-off). */
  private notServing = 0;
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
    const configured = periods.length ? Math.min(...periods) : undefined;
    this.notServing = this.state.ready ? 0 : this.notServing + 1;
    const periodMs = this.state.ready
      ? (configured ?? SERVING_PERIOD_S) * 1000
      : Math.min(
          (configured ?? STARTING_PERIOD_S) * 1000,
          STARTING_PERIOD_S * 1000,
          FIRST_RETRY_MS * 2 ** Math.min(this.notServing - 1, 10),
        );
    this.timer = setTimeout(() => void this.tick(), periodMs);
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
