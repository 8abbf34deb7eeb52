import type { ExecAuditEvent } from "@turgon/api/audit";
import type { Logger } from "../logger.ts";

export interface SessionRecorderOptions {
  /** Sends one record to the exec audit queue; rejects while Redis is away. */
  send: (event: ExecAuditEvent) => Promise<void>;
  log: Logger;
  /** Records held while Redis is away; past this the oldest is logged in full and dropped. */
  maxPending?: number;
  /** The longest wait between attempts. */
  maxBackoffMs?: number;
}

/**
 * Hands exec and SSH session records to the audit queue in the order the
 * sessions ended, holding them in memory and retrying with capped backoff
 * while Redis is away, so a Redis restart loses none. Records are keyed by
 * their id downstream, so one sent twice lands once. A record that must be
 * given up (the bound, or shutdown) is logged whole, so the log still has it.
 */
export class SessionRecorder {
  private readonly send: SessionRecorderOptions["send"];
  private readonly log: Logger;
  private readonly maxPending: number;
  private readonly maxBackoffMs: number;
  private readonly pending: ExecAuditEvent[] = [];
  private draining?: Promise<void>;
  private stopped = false;
  private wake?: () => void;

  constructor(options: SessionRecorderOptions) {
    this.send = options.send;
    this.log = options.log.child({ component: "session-records" });
    this.maxPending = options.maxPending ?? 10_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  get backlog(): number {
    return this.pending.length;
  }

  record(event: ExecAuditEvent): void {
    if (this.pending.length >= this.maxPending) {
      const dropped = this.pending.shift();
      this.log.error({ session: dropped }, "session record backlog full: dropped the oldest");
    }
    this.pending.push(event);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    let backoffMs = 200;
    let failing = false;
    while (this.pending.length > 0 && !this.stopped) {
      const next = this.pending[0] as ExecAuditEvent;
      try {
        await this.send(next);
        this.pending.shift();
        if (failing) this.log.info({ backlog: this.pending.length }, "recording sessions again");
        failing = false;
        backoffMs = 200;
      } catch (error) {
        if (!failing)
          this.log.warn(
            { err: (error as Error).message, backlog: this.pending.length },
            "cannot record sessions yet; holding them and retrying",
          );
        failing = true;
        await this.pause(backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.maxBackoffMs);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Tries to send what is held for up to `timeoutMs`, then logs the rest whole. */
  async stop(timeoutMs = 5_000): Promise<void> {
    const drained = this.draining ?? Promise.resolve();
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    this.stopped = true;
    this.wake?.();
    await this.draining;
    for (const session of this.pending.splice(0))
      this.log.error({ session }, "shutting down before this session was recorded");
  }
}
