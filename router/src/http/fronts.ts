import type { IncomingHttpHeaders } from "node:http";
import { type ProxyFailure, UpstreamTimeout } from "@turgon/toolkit/http-proxy";

/**
 * Why a sandbox's front could not take a request, such that the agent's
 * port may: it was never reached or refused the request before answering
 * anything (connect phase), its TLS handshake failed (a front that missed
 * a certificate rotation, or presents one the router does not trust), it
 * reset or timed out before its head, or it said 421 with the front's own
 * mark (a stale port, now another sandbox's front). `marked-down` counts
 * the requests sent straight to the agent while a front is marked down.
 */
export type FrontFallbackReason =
  | "refused"
  | "unreachable"
  | "connect-timeout"
  | "tls"
  | "reset"
  | "timed-out"
  | "misdirected"
  | "marked-down";

const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);
const RESET = new Set(["ECONNRESET", "EPIPE"]);

/**
 * OpenSSL's certificate verification results as Node names them (the
 * X509_V_ERR_* it reports without that prefix), for a front's certificate
 * the router refuses: expired, from another CA, self-signed, revoked.
 */
const CERTIFICATE_REFUSED = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Whether an error is the TLS handshake's: the front's certificate refused
 * here, or an alert or protocol error from OpenSSL (the front refused the
 * router's certificate, or speaks plain HTTP). The front then never served
 * the request: its server reads a request only over a completed handshake.
 */
export function isTlsHandshakeError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  return CERTIFICATE_REFUSED.has(code) || code.startsWith("ERR_SSL_");
}

/**
 * The fallback reason for a failure from a front, or undefined when the
 * front was reached and failed otherwise (no head in time, a cut body, a
 * reset after its head): those are answered as the agent's are.
 * `beforeHead` says nothing of the response has reached the client.
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
  if (isTlsHandshakeError(error)) return "tls";
  if (RESET.has(code) && beforeHead) return "reset";
  // The kernel gave up on the connection: maybe at its SYN, maybe after the request went out.
  if (code === "ETIMEDOUT" && beforeHead) return "timed-out";
  return undefined;
}

/**
 * Whether the front may have handed the request on to the guest: after a
 * reset or a timeout the request may have been sent and served, while a
 * connect-phase or TLS failure sent nothing and a 421 with the front's
 * mark served nothing.
 */
export function mayHaveReachedGuest(reason: FrontFallbackReason): boolean {
  return reason === "reset" || reason === "timed-out";
}

/**
 * A method that may be sent again after it possibly reached the guest:
 * GET, HEAD and OPTIONS (a WebSocket upgrade is a GET). Not PUT or DELETE,
 * which RFC 9110 calls idempotent but whose handlers in a guest need not
 * be.
 */
export function replayableMethod(method: string | undefined): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS";
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
