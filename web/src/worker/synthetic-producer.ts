/**
 * A synthetic agent for the worker's tests and benchmark: events written
 * through the node agent's real AuditSpool and shipped by its real
 * AuditShipper to Redis, exactly as an agent delivers them.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { EgressAuditEvent, EgressDecision } from "@turgon/api/audit";
import { AuditShipper, AuditSpool } from "@turgon/node-agent/audit";
import pino from "pino";

const DECISIONS: EgressDecision[] = ["allowed", "allowed", "allowed", "denied", "would-deny"];

export interface SyntheticOptions {
  node: string;
  namespace?: string;
  sandbox?: string;
  /** The events' time (now by default). */
  time?: () => Date;
}

/** The i-th synthetic event: varied hosts, decisions and secrets (by name), never a query. */
export function syntheticEvent(i: number, options: SyntheticOptions): EgressAuditEvent {
  const decision = DECISIONS[i % DECISIONS.length] as EgressDecision;
  return {
    id: randomUUID(),
    time: (options.time?.() ?? new Date()).toISOString(),
    node: options.node,
    sandbox: {
      uid: `uid-${options.sandbox ?? "box"}`,
      name: options.sandbox ?? "box",
      namespace: options.namespace ?? "default",
    },
    method: i % 7 === 0 ? "POST" : "GET",
    scheme: i % 11 === 0 ? "http" : "https",
    host: `api-${i % 50}.example.com`,
    port: i % 11 === 0 ? 80 : 443,
    path: `/v1/items/${i}`,
    status: decision === "denied" ? 403 : 200,
    decision,
    reason: decision === "allowed" ? "host allowed by policy" : "host not in allowedHosts",
    policy: i % 3 === 0 ? null : "default-egress",
    secretsInjected: i % 10 === 0 ? ["GITHUB_TOKEN"] : [],
    bytesSent: 100 + (i % 900),
    bytesReceived: decision === "denied" ? null : 1000 + (i % 9000),
    durationMs: i % 250,
  };
}

export class SyntheticAgent {
  readonly spool: AuditSpool;
  readonly shipper: AuditShipper;
  private readonly options: SyntheticOptions;
  produced = 0;
  readonly ids: string[] = [];

  private constructor(spool: AuditSpool, shipper: AuditShipper, options: SyntheticOptions) {
    this.spool = spool;
    this.shipper = shipper;
    this.options = options;
  }

  /** Opens the spool in `dir` and starts shipping to `redisUrl`. */
  static async start(
    dir: string,
    redisUrl: string,
    options: SyntheticOptions & { logLevel?: string },
  ): Promise<SyntheticAgent> {
    const spool = new AuditSpool({ dir });
    await spool.open();
    const log = pino({ name: "synthetic-agent", level: options.logLevel ?? "error" });
    const shipper = new AuditShipper(spool, redisUrl, options.node, log);
    shipper.start();
    return new SyntheticAgent(spool, shipper, options);
  }

  /** Appends `count` events, at most `perSecond` of them a second (as fast as possible without it). */
  async produce(count: number, perSecond?: number): Promise<void> {
    const tick = 50;
    const perTick = perSecond ? Math.max(1, Math.round((perSecond * tick) / 1000)) : 1000;
    for (let done = 0; done < count; ) {
      const started = Date.now();
      const n = Math.min(perTick, count - done);
      const appends: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const event = syntheticEvent(this.produced + i, this.options);
        this.ids.push(event.id);
        appends.push(this.spool.append(event));
      }
      await Promise.all(appends);
      this.produced += n;
      done += n;
      if (perSecond) await sleep(Math.max(0, tick - (Date.now() - started)));
    }
  }

  /** Ships what is left (bounded), then stops and closes the spool. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await this.shipper.stop(timeoutMs);
    await this.spool.close();
  }
}
