import type { IncomingHttpHeaders } from "node:http";
import { type ProxyFailure, UpstreamTimeout } from "@turgon/toolkit/http-proxy";

/**
 * Why a sandbox's front could not take a request, such that the agent's
 * port may: it was never reached or refused the request before answering
 * anything (connect phase), or it said 421 (a stale port, now another
 * sandbox's front). `marked-down` counts the requests sent straight to the
 * agent while a front is marked down.
 */
export type FrontFallbackReason =
  | "refused"
  | "unreachable"
  | "reset"
  | "connect-timeout"
  | "misdirected"
  | "marked-down";

const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT"]);
const RESET = new Set(["ECONNRESET", "EPIPE"]);

/**
 * The fallback reason for a failure from a front, or undefined when the
 * front was reached and failed otherwise (no head in time, a bad
 * certificate, a cut body): those are answered as the agent's are.
 * `beforeHead` says nothing of the response has reached the client, so a
 * reset happened before the front's head.
 */
export function frontFallbackReason(
  failure: ProxyFailure,
  beforeHead: boolean,
): FrontFallbackReason | undefined {
  if (failure.reason === "ResponseRefused") return "misdirected";
  const { error } = failure;
  if (error instanceof UpstreamTimeout)
    return error.phase === "connect" ? "connect-timeout" : undefined;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  if (code === "ECONNECT_TIMEOUT") return "connect-timeout";
  if (code === "ECONNREFUSED") return "refused";
  if (UNREACHABLE.has(code)) return "unreachable";
  if (RESET.has(code) && beforeHead) return "reset";
  return undefined;
}

/**
 * A request that can be sent again as it is: it has no body (no
 * Content-Length above 0, no Transfer-Encoding), so nothing of it was
 * consumed by the first attempt. Read from the headers as the client sent
 * them: the proxy drops Transfer-Encoding on the way.
 */
export function withoutBody(headers: IncomingHttpHeaders): boolean {
  if (headers["transfer-encoding"] !== undefined) return false;
  const length = headers["content-length"];
  return length === undefined || Number(length) === 0;
}

export interface FrontHealthOptions {
  /** How long a front stays marked down after a failure: 5 s unless set. */
  downForMs?: number;
  /** A monotonic clock in milliseconds (tests pass their own). */
  now?: () => number;
}

/**
 * Fronts that failed recently, keyed by sandbox uid and front URL, so the
 * next requests go straight to the agent's port instead of each paying for
 * a refused (or black-holed) connection. A front is tried again once its
 * time is up; a new front port (a new key) is trusted at once.
 */
export class FrontHealth {
  private readonly downUntil = new Map<string, number>();
  private readonly downForMs: number;
  private readonly now: () => number;

  constructor(options: FrontHealthOptions = {}) {
    this.downForMs = options.downForMs ?? 5_000;
    this.now = options.now ?? (() => performance.now());
  }

  isDown(uid: string, front: string): boolean {
    const key = `${uid}@${front}`;
    const until = this.downUntil.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.downUntil.delete(key);
    return false;
  }

  /** Marks the front down; true when it was up until now (so the caller logs it once). */
  markDown(uid: string, front: string): boolean {
    const wasUp = !this.isDown(uid, front);
    this.sweep();
    this.downUntil.set(`${uid}@${front}`, this.now() + this.downForMs);
    return wasUp;
  }

  /** How many fronts are marked down now. */
  get size(): number {
    this.sweep();
    return this.downUntil.size;
  }

  /** Forgets the fronts whose time is up, so the map holds only fronts down now. */
  private sweep(): void {
    const now = this.now();
    for (const [key, until] of this.downUntil) if (until <= now) this.downUntil.delete(key);
  }
}
