import type { Sandbox } from "@turgon/api/crd";
import type { Route } from "../directory/directory.ts";
import type { Logger } from "../logger.ts";
import type { RouterMetrics } from "../metrics.ts";
import type { SandboxResumer } from "./resumer.ts";

/** What a held request was answered with instead of its sandbox. */
export interface WakeRefusal {
  status: 404 | 409 | 502 | 503;
  reason: string;
  message: string;
  retryAfter?: number;
}

type Asleep = Extract<Route, { kind: "wake" }>;

export interface WakeLimits {
  /** How long one request is held before 503 + Retry-After. */
  timeoutMs: number;
  /** Requests held at once, in all. */
  maxHeld: number;
  /** Requests held at once for one sandbox. */
  maxHeldPerSandbox: number;
  /**
   * Requests held at once for one team's sandboxes (all its namespaces),
   * so that one team's sandboxes (each under its own cap) cannot take every
   * place and leave the others' wakes 503 WakeQueueFull.
   */
  maxHeldPerTeam: number;
}

export interface SandboxWakerOptions extends WakeLimits {
  /** The directory's answer for a host label, read afresh on every change. */
  route: (label: string) => Route;
  resumer: SandboxResumer;
  metrics: RouterMetrics;
  log: Logger;
}

interface Waiter {
  label: string;
  /** The sandbox it waits for: the host may come to route to another of the same name. */
  uid: string;
  settle: (refusal: WakeRefusal | undefined) => void;
}

/** One sandbox being woken: its single resume, and the requests held for it. */
interface Waking {
  waiters: Set<Waiter>;
  resumed: boolean;
}

/**
 * Wakings are kept by UID, not by name: a sandbox deleted and made again
 * under the same name while requests wait for the old one is another
 * sandbox, with its own resume.
 */
const keyOf = (sandbox: Pick<Sandbox, "metadata">) => sandbox.metadata.uid as string;
const nameOf = (sandbox: Pick<Sandbox, "metadata">) =>
  `${sandbox.metadata.namespace}/${sandbox.metadata.name}`;

/**
 * Wake on request: a request that passed its access check for a suspended
 * sandbox with `lifecycle.wakeOnRequest` sets the sandbox's
 * `spec.operatingMode` back to Running (once per sandbox however many
 * requests arrive, and only from Suspended: `SandboxResumer`), then waits,
 * bounded in time and in number, until the directory routes it (Running,
 * Ready, IngressReady in the informer cache). The informer's events wake
 * the waiters; nothing polls.
 */
export class SandboxWaker {
  private readonly options: SandboxWakerOptions;
  private readonly wakings = new Map<string, Waking>();
  private held = 0;
  private readonly heldByTeam = new Map<string, number>();

  constructor(options: SandboxWakerOptions) {
    this.options = options;
  }

  /** Requests held right now (for tests and the gauge). */
  get heldNow(): number {
    return this.held;
  }

  /**
   * Resumes the sandbox if it is suspended, and resolves once it is routed
   * (undefined: decide the request again and serve it), or with why not:
   * the bound passed, too many held, or the sandbox went another way
   * (deleted, failed, suspended for good). `signal` lets a client that
   * went away give its place back.
   */
  async hold(route: Asleep, label: string, signal?: AbortSignal): Promise<WakeRefusal | undefined> {
    const { metrics } = this.options;
    const key = keyOf(route.sandbox);
    const name = nameOf(route.sandbox);
    // Gone already (while its access was checked): neither held nor a reason to wake the sandbox.
    if (signal?.aborted) {
      metrics.wakeHeld.inc({ outcome: "gone" });
      return { status: 503, reason: "ClientGone", message: "the client went away" };
    }
    let waking = this.wakings.get(key);
    const full =
      this.held >= this.options.maxHeld ||
      (waking?.waiters.size ?? 0) >= this.options.maxHeldPerSandbox ||
      (this.heldByTeam.get(route.team) ?? 0) >= this.options.maxHeldPerTeam;
    if (full) {
      metrics.wakeHeld.inc({ outcome: "full" });
      return {
        status: 503,
        reason: "WakeQueueFull",
        message: `sandbox ${name} is waking and too many requests wait for it; try again shortly`,
        retryAfter: 5,
      };
    }
    if (!waking) {
      waking = { waiters: new Set(), resumed: false };
      this.wakings.set(key, waking);
    }
    const started = performance.now();
    const refusal = await this.wait(key, name, waking, label, route, signal);
    const outcome = refusal ? (refusal.reason === "WakeTimeout" ? "timeout" : "refused") : "served";
    metrics.wakeHeld.inc({ outcome: signal?.aborted ? "gone" : outcome });
    metrics.wakeSeconds.observe({ outcome }, (performance.now() - started) / 1000);
    return refusal;
  }

  /** Looks again at the sandboxes whose requests wait (the sandbox informer's add, update, delete). */
  changed(sandbox: Pick<Sandbox, "metadata">): void {
    const waking = this.wakings.get(keyOf(sandbox));
    if (!waking) return;
    for (const waiter of [...waking.waiters]) this.check(waiter);
  }

  private wait(
    key: string,
    name: string,
    waking: Waking,
    label: string,
    route: Asleep,
    signal: AbortSignal | undefined,
  ): Promise<WakeRefusal | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () =>
          settle({
            status: 503,
            reason: "WakeTimeout",
            message: `sandbox ${name} is waking but did not serve within ${Math.round(this.options.timeoutMs / 1000)} s; try again shortly`,
            retryAfter: 5,
          }),
        this.options.timeoutMs,
      );
      const gone = () =>
        settle({ status: 503, reason: "ClientGone", message: "the client went away" });
      const waiter: Waiter = { label, uid: key, settle: (refusal) => settle(refusal) };
      const settle = (refusal: WakeRefusal | undefined) => {
        if (!waking.waiters.delete(waiter)) return;
        clearTimeout(timer);
        signal?.removeEventListener("abort", gone);
        this.held--;
        const team = (this.heldByTeam.get(route.team) ?? 1) - 1;
        if (team > 0) this.heldByTeam.set(route.team, team);
        else this.heldByTeam.delete(route.team);
        this.options.metrics.wakeHeldNow.set(this.held);
        if (waking.waiters.size === 0 && this.wakings.get(key) === waking) this.wakings.delete(key);
        resolve(refusal);
      };
      waking.waiters.add(waiter);
      this.held++;
      this.heldByTeam.set(route.team, (this.heldByTeam.get(route.team) ?? 0) + 1);
      this.options.metrics.wakeHeldNow.set(this.held);
      signal?.addEventListener("abort", gone, { once: true });
      if (!waking.resumed) {
        waking.resumed = true;
        void this.resume(route.sandbox);
      }
      // The cache may have moved on since the request was decided.
      this.check(waiter);
    });
  }

  /** The one resume of a waking sandbox: only from Suspended, so a user's own change is not undone. */
  private async resume(sandbox: Sandbox): Promise<void> {
    if (sandbox.spec.operatingMode !== "Suspended") return;
    const { metrics, log } = this.options;
    const key = keyOf(sandbox);
    const name = nameOf(sandbox);
    try {
      const outcome = await this.options.resumer.resume(sandbox);
      metrics.wakes.inc({ outcome });
      if (outcome === "resumed")
        log.info({ sandbox: name, uid: key }, "waking a suspended sandbox on request");
      else
        log.info(
          { sandbox: name, uid: key, outcome },
          "did not wake the sandbox: it changed meanwhile",
        );
    } catch (error) {
      metrics.wakes.inc({ outcome: "failed" });
      log.warn({ sandbox: name, uid: key, err: error }, "could not wake the sandbox");
      const waking = this.wakings.get(key);
      for (const waiter of waking ? [...waking.waiters] : [])
        waiter.settle({
          status: 503,
          reason: "WakeFailed",
          message: `sandbox ${name} is suspended and could not be woken: ${(error as Error).message}`,
          retryAfter: 5,
        });
    }
  }

  /** Settles a waiter once its host routes to a serving sandbox, or to a refusal that is not "wait". */
  private check(waiter: Waiter): void {
    const route = this.options.route(waiter.label);
    if (route.kind === "serve") waiter.settle(undefined);
    // Made again under the same name, asleep: its own first request wakes it; this one is retried.
    else if (route.kind === "wake" && route.uid !== waiter.uid)
      waiter.settle({
        status: 503,
        reason: "SandboxReplaced",
        message: `the sandbox at this address was made again while the request waited; try again`,
        retryAfter: 1,
      });
    // Running but not serving yet (IngressNotReady): a resume on its way.
    else if (route.kind === "refuse" && route.reason !== "Starting") waiter.settle(route);
  }
}
