/**
 * Keeps the dashboard's key of the SSH users Secret (which the router's
 * gateway follows) in step with the database: after each change to keys,
 * team memberships or admin roles, and once at start-up. Written with the
 * dashboard's own identity (web/deploy/rbac.yaml lets it get, patch and
 * create that Secret), never as the signed-in user: users may not edit the
 * gateway's list themselves.
 *
 * A write never blocks the user's action: `request()` returns at once;
 * writes run one at a time, a burst of requests coalesces into one write
 * of the latest state, and a failed write is logged and retried with
 * backoff until one succeeds. Logs carry counts, never key material.
 */
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { SshUsersFile } from "@turgon/api/routing";
import type { Logger } from "pino";
import { KubeApiError, statusOf } from "../kube/index.ts";
import { describeSshUsers } from "./users-file.ts";

/** The Secret and its data key the dashboard owns. */
export interface SshUsersTarget {
  namespace: string;
  name: string;
  /** A data key ending in `.json` (`users.json`); other keys are other writers'. */
  key: string;
}

export interface SshUsersPublisherOptions {
  /** The dashboard's own identity. */
  kc: KubeConfig;
  target: SshUsersTarget;
  /** Reads the current list from the database. */
  load: () => Promise<SshUsersFile>;
  log: Logger;
  /** Waits between attempts after failures; the last repeats (default 1 s … 30 s). */
  retryDelaysMs?: readonly number[];
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const DEFAULT_RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

export class SshUsersPublisher {
  private readonly core: CoreV1Api;
  private readonly options: SshUsersPublisherOptions;
  private readonly log: Logger;
  private readonly reasons = new Set<string>();
  private running?: Promise<void>;
  private stopped = false;
  private retryTimer?: { timer: NodeJS.Timeout; wake: () => void };
  private idleWaiters: (() => void)[] = [];
  /** Writes that succeeded, for status and tests. */
  written = 0;
  /** Attempts that failed since the last success. */
  failures = 0;

  constructor(options: SshUsersPublisherOptions) {
    this.options = options;
    this.core = options.kc.makeApiClient(CoreV1Api);
    const { namespace, name, key } = options.target;
    this.log = options.log.child({ secret: `${namespace}/${name}`, key });
  }

  /** Asks for a write of the current list; returns at once (the write happens in the background). */
  request(reason: string): void {
    if (this.stopped) return;
    this.reasons.add(reason);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      // A request that came in as the loop ended starts a new one.
      if (this.reasons.size > 0 && !this.stopped) this.request([...this.reasons][0] as string);
      else for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  /** Resolves once every requested write has succeeded (or the publisher stopped). */
  idle(): Promise<void> {
    if (!this.running && this.reasons.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying; a write under way finishes. */
  stop(): void {
    this.stopped = true;
    this.reasons.clear();
    if (this.retryTimer) {
      clearTimeout(this.retryTimer.timer);
      this.retryTimer.wake();
    }
  }

  private async drain(): Promise<void> {
    while (this.reasons.size > 0 && !this.stopped) {
      const reasons = [...this.reasons];
      this.reasons.clear();
      try {
        const users = await this.options.load();
        await this.write(users);
        this.written += 1;
        this.failures = 0;
        this.log.info({ ...describeSshUsers(users), reasons }, "SSH users written");
      } catch (error) {
        // Try again with the newest state, after a pause.
        for (const reason of reasons) this.reasons.add(reason);
        const delays = this.options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
        const delay = delays[Math.min(this.failures, delays.length - 1)] ?? 1_000;
        this.failures += 1;
        this.log.warn(
          { err: summary(error), attempt: this.failures, retryInMs: delay, reasons },
          "could not write the SSH users; retrying",
        );
        await this.pause(delay);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.retryTimer = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.retryTimer = { timer, wake: resolve };
    });
  }

  /**
   * A JSON merge patch of just our key, so other writers' keys stay; the
   * Secret is created when it is missing (and patched after all if
   * someone else created it meanwhile).
   */
  private async write(users: SshUsersFile): Promise<void> {
    const { namespace, name, key } = this.options.target;
    const value = Buffer.from(`${JSON.stringify(users, null, 2)}\n`).toString("base64");
    const patch = () =>
      this.core.patchNamespacedSecret(
        { name, namespace, body: { data: { [key]: value } } },
        mergePatch,
      );
    try {
      await patch();
      return;
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    try {
      await this.core.createNamespacedSecret({
        namespace,
        body: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "turgon" } },
          type: "Opaque",
          data: { [key]: value },
        },
      });
      this.log.info("created the SSH users Secret");
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      await patch();
    }
  }
}

/** What went wrong, without the request (which carries the keys): status, reason and message. */
function summary(error: unknown): { status?: number; reason?: string; message: string } {
  const typed = KubeApiError.from(error);
  if (typed instanceof KubeApiError)
    return { status: typed.status, reason: typed.reason, message: typed.message };
  return { message: error instanceof Error ? error.message : String(error) };
}
