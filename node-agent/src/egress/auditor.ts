import { randomUUID } from "node:crypto";
import type { HttpHooks, HttpIpAllowInfo } from "@earendil-works/gondolin";
import type { EgressAuditEvent } from "@turgon/api/audit";
import type { EgressGuard, Verdict } from "./guard.ts";
import { hostMatches } from "./guard.ts";

export interface AuditContext {
  node: string;
  sandbox: { uid: string; name: string; namespace: string };
  /** Placeholder → secret name and the hosts it may go to (never the value). */
  placeholders: () => Map<string, { name: string; hosts: string[] }>;
  emit: (event: EgressAuditEvent) => void;
}

interface InFlight {
  id: string;
  /** Wall-clock start, for the event's time. */
  startedAt: number;
  /** Monotonic start, for durations. */
  started: number;
  method: string;
  url: URL;
  bytesSent: number | null;
  secretsInjected: string[];
  /**
   * The sandbox as it was when the request began: a warm VM's subject
   * changes in place when a sandbox claims it, and a request from before
   * the claim is not the claimant's.
   */
  sandbox: AuditContext["sandbox"];
  verdict?: Verdict;
  ipVerdict?: Verdict;
}

/** A request that got no answer this long after its policy checks is reported without a status. */
const NO_ANSWER_MS = 120_000;
/** A request refused by address is reported this soon after the refusal. */
const REFUSAL_SETTLE_MS = 250;

/**
 * Gondolin HTTP hooks that enforce the guard's policy and emit one audit
 * event per request. Gondolin runs onRequest → isRequestAllowed →
 * isIpAllowed → fetch → onResponse for each request; requests are matched
 * across hooks by method and URL, in order.
 */
export class EgressAuditor {
  private readonly guard: EgressGuard;
  private readonly context: AuditContext;
  private readonly inFlight = new Map<string, InFlight[]>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(guard: EgressGuard, context: AuditContext) {
    this.guard = guard;
    this.context = context;
    this.sweeper = setInterval(() => this.sweep(), 200);
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private key(method: string, url: string): string {
    return `${method.toUpperCase()} ${url}`;
  }

  private take(key: string, record: InFlight): void {
    const queue = this.inFlight.get(key) ?? [];
    const index = queue.indexOf(record);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.inFlight.delete(key);
  }

  private finish(
    record: InFlight,
    status: number | null,
    bytesReceived: number | null,
    fallback: Verdict,
  ): void {
    // The strictest check speaks for the request: a refusal by address
    // outranks a report-mode would-deny by host, which outranks allowed.
    const verdicts = [record.verdict, record.ipVerdict].filter(
      (v): v is Verdict => v !== undefined,
    );
    const verdict =
      verdicts.find((v) => v.decision === "denied") ??
      verdicts.find((v) => v.decision === "would-deny") ??
      verdicts[0] ??
      fallback;
    const port = Number(record.url.port || (record.url.protocol === "https:" ? 443 : 80));
    this.context.emit({
      id: record.id,
      time: new Date(record.startedAt).toISOString(),
      node: this.context.node,
      sandbox: record.sandbox,
      method: record.method,
      scheme: record.url.protocol === "https:" ? "https" : "http",
      host: record.url.hostname,
      port,
      path: record.url.pathname,
      status,
      decision: verdict.decision,
      reason: verdict.reason,
      policy: this.guard.policyName ?? null,
      secretsInjected: record.secretsInjected,
      bytesSent: record.bytesSent,
      bytesReceived,
      durationMs: Math.max(0, Math.round(performance.now() - record.started)),
    });
  }

  private sweep(): void {
    const now = performance.now();
    for (const [key, queue] of this.inFlight) {
      for (const record of [...queue]) {
        const refusedByAddress = record.ipVerdict?.decision === "denied";
        if (
          (refusedByAddress && now - record.started > REFUSAL_SETTLE_MS) ||
          now - record.started > NO_ANSWER_MS
        ) {
          this.take(key, record);
          this.finish(record, refusedByAddress ? 403 : null, null, {
            decision: "allowed",
            reason: "no answer from upstream",
          });
        }
      }
    }
  }

  /**
   * The secrets whose placeholders a request carries in its headers (Basic
   * auth decoded too, as Gondolin decodes it): those scoped to its host are
   * injected; any other makes Gondolin refuse the request outright.
   */
  private secretsIn(request: Request, host: string): { injected: string[]; misdirected: string[] } {
    const injected = new Set<string>();
    const misdirected = new Set<string>();
    const texts = [...request.headers.values()];
    const basic = /^Basic\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "");
    if (basic?.[1]) texts.push(Buffer.from(basic[1], "base64").toString("utf8"));
    const headers = texts.join("\n");
    for (const [placeholder, secret] of this.context.placeholders()) {
      if (!headers.includes(placeholder)) continue;
      if (secret.hosts.some((pattern) => hostMatches(pattern, host))) injected.add(secret.name);
      else misdirected.add(secret.name);
    }
    return { injected: [...injected].sort(), misdirected: [...misdirected].sort() };
  }

  hooks(): Required<
    Pick<HttpHooks, "onRequest" | "isRequestAllowed" | "isIpAllowed" | "onResponse">
  > {
    return {
      onRequest: (request: Request) => {
        // Gondolin answers a guest's `Expect: 100-continue` itself; passed on,
        // the header makes undici's fetch throw ("expect header not
        // supported"), and every such upload (curl sends it above 1 MiB) failed.
        request.headers.delete("expect");
        const url = new URL(request.url);
        const length = request.headers.get("content-length");
        const secrets = this.secretsIn(request, url.hostname);
        const record: InFlight = {
          id: randomUUID(),
          startedAt: Date.now(),
          started: performance.now(),
          method: request.method.toUpperCase(),
          url,
          bytesSent: length === null ? (request.body ? null : 0) : Number(length),
          secretsInjected: secrets.injected,
          sandbox: { ...this.context.sandbox },
        };
        if (secrets.misdirected.length > 0) {
          // Gondolin refuses to put a secret into a request for a host it is not scoped to.
          const verdict: Verdict = {
            decision: "denied",
            reason: `secret ${secrets.misdirected.join(", ")} may not be sent to ${url.hostname}`,
          };
          this.finish(record, 403, null, verdict);
          return undefined;
        }
        const key = this.key(request.method, request.url);
        this.inFlight.set(key, [...(this.inFlight.get(key) ?? []), record]);
        return undefined;
      },
      isRequestAllowed: (request: Request) => {
        const key = this.key(request.method, request.url);
        const record = this.inFlight.get(key)?.find((r) => !r.verdict);
        const verdict = this.guard.checkRequest(
          request.method,
          new URL(request.url).hostname,
          request.headers,
        );
        if (record) {
          record.verdict = verdict;
          if (verdict.decision === "denied") {
            this.take(key, record);
            this.finish(record, 403, null, verdict);
          }
        }
        return verdict.decision !== "denied";
      },
      isIpAllowed: (info: HttpIpAllowInfo) => {
        const verdict = this.guard.checkAddress(info.ip);
        // The first request to this host still waiting for its address check.
        for (const queue of this.inFlight.values()) {
          const record = queue.find(
            (r) => r.url.hostname === info.hostname && r.verdict && !r.ipVerdict,
          );
          if (record) {
            record.ipVerdict = verdict;
            break;
          }
        }
        return verdict.decision !== "denied";
      },
      onResponse: (response: Response, request: Request) => {
        const key = this.key(request.method, request.url);
        const record = this.inFlight.get(key)?.[0];
        if (record) {
          this.take(key, record);
          const length = response.headers.get("content-length");
          this.finish(record, response.status, length === null ? null : Number(length), {
            decision: "allowed",
            reason: "allowed by policy",
          });
        }
        return undefined;
      },
    };
  }
}
