import type { Sandbox } from "@turgon/api/crd";
import type { EffectiveSpec } from "./template.ts";

/** Milliseconds in a Go-style duration as the CRD admits it: 90s, 15m, 2h, 1h30m. */
export function durationMs(duration: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!match || duration === "") throw new Error(`invalid duration "${duration}"`);
  const [, h = "0", m = "0", s = "0"] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000;
}

export interface Expiry {
  reason: "ShutdownTime" | "TTLExpired" | "IdleTimeout";
  message: string;
  /**
   * What ends: the sandbox (deleted), or only its run (`operatingMode:
   * Suspended`) for an idle sandbox with `wakeOnRequest`, which a request
   * through the router resumes.
   */
  action: "delete" | "suspend";
}

/**
 * When the sandbox should end, by the earliest of `shutdownTime`, start +
 * `ttl` and last activity + `idleTimeout`. `expired` is set once that time
 * has passed; otherwise `remainingMs` says when to look again. Idle time
 * counts only while the sandbox runs and is meant to (not once its
 * operatingMode says Suspended, whoever set it).
 */
export function lifecycleDeadline(
  sandbox: Sandbox,
  spec: EffectiveSpec,
  lastActivityAt: string | undefined,
  now = Date.now(),
): { expired?: Expiry; remainingMs?: number } {
  const lifecycle = spec.lifecycle;
  if (!lifecycle) return {};
  const deadlines: { at: number; expiry: Expiry }[] = [];
  if (lifecycle.shutdownTime) {
    deadlines.push({
      at: Date.parse(lifecycle.shutdownTime),
      expiry: {
        reason: "ShutdownTime",
        message: `shutdownTime ${lifecycle.shutdownTime} passed`,
        action: "delete",
      },
    });
  }
  const started = sandbox.status?.startedAt ?? sandbox.metadata.creationTimestamp;
  if (lifecycle.ttl && started) {
    deadlines.push({
      at: Date.parse(started) + durationMs(lifecycle.ttl),
      expiry: {
        reason: "TTLExpired",
        message: `ttl ${lifecycle.ttl} since ${started} passed`,
        action: "delete",
      },
    });
  }
  // Idle time counts only while the VM runs: a suspended or booting sandbox is not idle.
  const running =
    sandbox.status?.phase === "Running" &&
    sandbox.status.startedAt &&
    spec.operatingMode !== "Suspended";
  if (lifecycle.idleTimeout && running) {
    const last = [lastActivityAt, sandbox.status?.startedAt]
      .filter((t): t is string => t !== undefined)
      .map(Date.parse)
      .reduce((a, b) => Math.max(a, b));
    deadlines.push({
      at: last + durationMs(lifecycle.idleTimeout),
      expiry: {
        reason: "IdleTimeout",
        message: `no ingress or exec activity for ${lifecycle.idleTimeout}`,
        action: lifecycle.wakeOnRequest ? "suspend" : "delete",
      },
    });
  }
  if (deadlines.length === 0) return {};
  const first = deadlines.reduce((a, b) => (b.at < a.at ? b : a));
  if (first.at <= now) return { expired: first.expiry };
  return { remainingMs: first.at - now };
}
