import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION, type Sandbox } from "@turgon/api/crd";
import { durationMs, lifecycleDeadline } from "./lifecycle.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const sandbox = (status: Sandbox["status"] = {}): Sandbox => ({
  apiVersion: API_VERSION,
  kind: "Sandbox",
  metadata: { name: "s", creationTimestamp: "2026-01-01T00:00:00Z" },
  spec: { image: "i", operatingMode: "Running", restartPolicy: "Never" },
  status,
});

describe("lifecycle deadlines", () => {
  it("parses Go-style durations", () => {
    assert.equal(durationMs("90s"), 90_000);
    assert.equal(durationMs("1h30m"), 5_400_000);
    assert.throws(() => durationMs("5d"));
  });

  it("counts ttl from start, falling back to creation", () => {
    const spec = {
      image: "i",
      operatingMode: "Running",
      restartPolicy: "Never",
      lifecycle: { ttl: "10m" },
    } as const;
    assert.equal(lifecycleDeadline(sandbox(), spec, undefined, T0 + 60_000).remainingMs, 540_000);
    const started = sandbox({ phase: "Running", startedAt: "2026-01-01T00:05:00Z" });
    assert.equal(lifecycleDeadline(started, spec, undefined, T0 + 14 * 60_000).remainingMs, 60_000);
    assert.equal(
      lifecycleDeadline(started, spec, undefined, T0 + 15 * 60_000).expired?.reason,
      "TTLExpired",
    );
  });

  it("ends a running sandbox after idleTimeout without activity, and activity postpones it", () => {
    const spec = {
      image: "i",
      operatingMode: "Running",
      restartPolicy: "Never",
      lifecycle: { idleTimeout: "5m" },
    } as const;
    const running = sandbox({ phase: "Running", startedAt: "2026-01-01T00:00:00Z" });
    assert.equal(
      lifecycleDeadline(running, spec, undefined, T0 + 5 * 60_000).expired?.reason,
      "IdleTimeout",
    );
    const active = lifecycleDeadline(running, spec, "2026-01-01T00:04:00Z", T0 + 5 * 60_000);
    assert.equal(active.expired, undefined);
    assert.equal(active.remainingMs, 4 * 60_000);
    // Not running (suspended, booting): not idle.
    assert.deepEqual(
      lifecycleDeadline(
        sandbox({ phase: "Suspended", startedAt: "2026-01-01T00:00:00Z" }),
        spec,
        undefined,
        T0 + 3_600_000,
      ),
      {},
    );
  });

  it("suspends an idle sandbox with wakeOnRequest instead of deleting it; ttl still deletes", () => {
    const spec = {
      image: "i",
      operatingMode: "Running",
      restartPolicy: "Never",
      lifecycle: { idleTimeout: "5m", ttl: "1h", wakeOnRequest: true },
    } as const;
    const running = sandbox({ phase: "Running", startedAt: "2026-01-01T00:00:00Z" });
    assert.deepEqual(lifecycleDeadline(running, spec, undefined, T0 + 5 * 60_000).expired, {
      reason: "IdleTimeout",
      message: "no ingress or exec activity for 5m",
      action: "suspend",
    });
    assert.equal(
      lifecycleDeadline(
        running,
        { ...spec, lifecycle: { idleTimeout: "5m" } },
        undefined,
        T0 + 5 * 60_000,
      ).expired?.action,
      "delete",
    );
    // Asked to suspend already (the phase lags): not idle again, so only the ttl is left.
    const asked = lifecycleDeadline(
      running,
      { ...spec, operatingMode: "Suspended" },
      undefined,
      T0 + 10 * 60_000,
    );
    assert.deepEqual(asked, { remainingMs: 50 * 60_000 });
    assert.equal(
      lifecycleDeadline(running, spec, "2026-01-01T00:58:00Z", T0 + 3_600_000).expired?.action,
      "delete",
    );
  });

  it("honours shutdownTime, the earliest deadline winning", () => {
    const spec = {
      image: "i",
      operatingMode: "Running",
      restartPolicy: "Never",
      lifecycle: { shutdownTime: "2026-01-01T00:01:00Z", ttl: "1h" },
    } as const;
    assert.equal(lifecycleDeadline(sandbox(), spec, undefined, T0).remainingMs, 60_000);
    assert.equal(
      lifecycleDeadline(sandbox(), spec, undefined, T0 + 60_000).expired?.reason,
      "ShutdownTime",
    );
  });
});
