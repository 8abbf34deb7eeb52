/**
 * The waker's own logic with a fake resumer and a fake directory answer:
 * coalescing, the bounds in time and number, and what settles a held
 * request. The resume against the real API server is resumer.test.ts; the
 * whole path with a VM is wake.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Sandbox } from "@turgon/api/crd";
import type { Route } from "../directory/directory.ts";
import { logger } from "../logger.ts";
import { RouterMetrics } from "../metrics.ts";
import type { ResumeOutcome, SandboxResumer } from "./resumer.ts";
import { SandboxWaker } from "./waker.ts";

const sandbox = (operatingMode: "Running" | "Suspended"): Sandbox =>
  ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name: "app", namespace: "ns", uid: "u1" },
    spec: { image: "i", operatingMode, lifecycle: { wakeOnRequest: true } },
    status: { phase: "Suspended" },
  }) as unknown as Sandbox;

const asleep = (mode: "Running" | "Suspended" = "Suspended") =>
  ({
    kind: "wake",
    sandbox: sandbox(mode),
    uid: "u1",
    access: "public",
    team: "ns",
  }) as Extract<Route, { kind: "wake" }>;

const serving: Route = {
  kind: "serve",
  sandbox: sandbox("Running"),
  uid: "u1",
  access: "public",
  team: "ns",
  agent: "http://127.0.0.1:1",
};

/** A resumer that counts its calls and answers when told. */
class FakeResumer implements SandboxResumer {
  calls = 0;
  uids: string[] = [];
  outcome: ResumeOutcome | Error = "resumed";
  async resume(sandbox: Sandbox): Promise<ResumeOutcome> {
    this.calls++;
    this.uids.push(sandbox.metadata.uid as string);
    if (this.outcome instanceof Error) throw this.outcome;
    return this.outcome;
  }
}

const setup = (
  limits: Partial<{
    timeoutMs: number;
    maxHeld: number;
    maxHeldPerSandbox: number;
    maxHeldPerTeam: number;
  }> = {},
) => {
  let now: Route = asleep("Running");
  const resumer = new FakeResumer();
  const metrics = new RouterMetrics();
  const waker = new SandboxWaker({
    route: () => now,
    resumer,
    metrics,
    log: logger.child({ component: "waker-test" }),
    timeoutMs: limits.timeoutMs ?? 10_000,
    maxHeld: limits.maxHeld ?? 100,
    maxHeldPerSandbox: limits.maxHeldPerSandbox ?? 10,
    maxHeldPerTeam: limits.maxHeldPerTeam ?? 100,
  });
  const set = (route: Route, changed: Sandbox = sandbox("Running")) => {
    now = route;
    waker.changed(changed);
  };
  const count = async (name: string, labels: Record<string, string>) => {
    const metric = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
    return metric
      .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
      .reduce((sum, v) => sum + v.value, 0);
  };
  return { waker, resumer, set, count };
};

describe("SandboxWaker", () => {
  it("many requests for one suspended sandbox cause one resume, and all go on once it serves", async () => {
    const { waker, resumer, set, count } = setup();
    const held = Array.from({ length: 8 }, () => waker.hold(asleep(), "app--ns"));
    assert.equal(waker.heldNow, 8);
    set({ kind: "refuse", status: 503, reason: "Starting", message: "booting", retryAfter: 2 });
    assert.equal(waker.heldNow, 8, "Starting is a wake on its way: still held");
    set(serving);
    assert.deepEqual(await Promise.all(held), Array(8).fill(undefined));
    assert.equal(resumer.calls, 1);
    assert.equal(waker.heldNow, 0);
    assert.equal(await count("turgon_router_wakes_total", { outcome: "resumed" }), 1);
    assert.equal(await count("turgon_router_wake_held_requests_total", { outcome: "served" }), 8);
  });

  it("does not patch a sandbox whose mode is Running already (woken elsewhere, or by its owner)", async () => {
    const { waker, resumer, set } = setup();
    const held = waker.hold(asleep("Running"), "app--ns");
    set(serving);
    assert.equal(await held, undefined);
    assert.equal(resumer.calls, 0);
  });

  it("refuses past the per-sandbox and the total caps at once, and frees a place when a client goes", async () => {
    const { waker, set, count } = setup({ maxHeldPerSandbox: 2, maxHeld: 3 });
    const gone = new AbortController();
    const a = waker.hold(asleep(), "app--ns", gone.signal);
    const b = waker.hold(asleep(), "app--ns");
    const full = await waker.hold(asleep(), "app--ns");
    assert.equal(full?.reason, "WakeQueueFull");
    assert.equal(full?.retryAfter, 5);
    gone.abort();
    assert.equal((await a)?.reason, "ClientGone");
    const c = waker.hold(asleep(), "app--ns");
    assert.equal(waker.heldNow, 2);
    set(serving);
    assert.deepEqual([await b, await c], [undefined, undefined]);
    assert.equal(await count("turgon_router_wake_held_requests_total", { outcome: "full" }), 1);
    assert.equal(await count("turgon_router_wake_held_requests_total", { outcome: "gone" }), 1);
  });

  it("answers 503 WakeTimeout with Retry-After past the bound", async () => {
    const { waker } = setup({ timeoutMs: 50 });
    const started = performance.now();
    const refusal = await waker.hold(asleep(), "app--ns");
    assert.equal(refusal?.status, 503);
    assert.equal(refusal?.reason, "WakeTimeout");
    assert.equal(refusal?.retryAfter, 5);
    assert.ok(performance.now() - started >= 45);
    assert.equal(waker.heldNow, 0);
  });

  it("settles with the directory's refusal when the sandbox goes another way (deleted, failed)", async () => {
    const { waker, set } = setup();
    const held = waker.hold(asleep(), "app--ns");
    set({ kind: "refuse", status: 404, reason: "UnknownSandbox", message: "gone" });
    assert.equal((await held)?.reason, "UnknownSandbox");
  });

  it("a resume the API server refuses answers the held requests 503 WakeFailed", async () => {
    const { waker, resumer, count } = setup();
    resumer.outcome = new Error("forbidden");
    const refusal = await waker.hold(asleep(), "app--ns");
    assert.equal(refusal?.reason, "WakeFailed");
    assert.match(refusal?.message ?? "", /forbidden/);
    assert.equal(await count("turgon_router_wakes_total", { outcome: "failed" }), 1);
  });

  it("a client gone before its request is held is not held, and wakes nothing", async () => {
    const { waker, resumer } = setup({ timeoutMs: 2_000 });
    const gone = new AbortController();
    gone.abort();
    const refusal = await waker.hold(asleep(), "app--ns", gone.signal);
    assert.equal(refusal?.reason, "ClientGone");
    assert.equal(resumer.calls, 0);
    assert.equal(waker.heldNow, 0);
  });

  it("a sandbox made again under the same name while requests wait for the old one is woken by its own first request", async () => {
    const { waker, resumer, set } = setup({ timeoutMs: 5_000 });
    const old = waker.hold(asleep(), "app--ns");
    assert.deepEqual(resumer.uids, ["u1"]);
    // Deleted and made again, suspended: the host now routes to the new one, asleep.
    const again = (mode: "Running" | "Suspended") => {
      const made = sandbox(mode);
      made.metadata.uid = "u2";
      return made;
    };
    const newAsleep = { ...asleep(), sandbox: again("Suspended"), uid: "u2" } as const;
    set(newAsleep, sandbox("Running"));
    const fresh = waker.hold(newAsleep, "app--ns");
    assert.deepEqual(resumer.uids, ["u1", "u2"], "the new sandbox is resumed, by UID");
    assert.equal(
      (await old)?.reason,
      "SandboxReplaced",
      "the old one's requests are told to retry",
    );
    set({ ...serving, sandbox: again("Running"), uid: "u2" }, again("Running"));
    assert.equal(await fresh, undefined);
    assert.equal(waker.heldNow, 0);
  });

  it("one team's sandboxes cannot take every place: past its own cap its requests are refused, another team's are still held", async () => {
    const { waker, set } = setup({ maxHeld: 10, maxHeldPerSandbox: 5, maxHeldPerTeam: 6 });
    const of = (uid: string, team: string): Extract<Route, { kind: "wake" }> => {
      const asleepOne = sandbox("Suspended");
      asleepOne.metadata = { name: uid, namespace: team, uid };
      return { ...asleep(), sandbox: asleepOne, uid, team };
    };
    // Each host on its way (Starting), as the directory would say while the sandboxes boot.
    set({ kind: "refuse", status: 503, reason: "Starting", message: "booting", retryAfter: 2 });
    const held = [
      ...Array.from({ length: 5 }, () => waker.hold(of("a1", "a"), "a1--a")),
      waker.hold(of("a2", "a"), "a2--a"),
    ];
    assert.equal(waker.heldNow, 6);
    const refused = await waker.hold(of("a3", "a"), "a3--a");
    assert.equal(refused?.reason, "WakeQueueFull", "team a is at its cap");
    const other = waker.hold(of("b1", "b"), "b1--b");
    assert.equal(waker.heldNow, 7, "team b is still held");
    // Deleted: every held request is answered, and the places are given back.
    for (const [uid, team] of [
      ["a1", "a"],
      ["a2", "a"],
      ["b1", "b"],
    ] as const)
      set(
        { kind: "refuse", status: 404, reason: "UnknownSandbox", message: "gone" },
        of(uid, team).sandbox,
      );
    const answers = await Promise.all([...held, other]);
    assert.ok(answers.every((answer) => answer?.reason === "UnknownSandbox"));
    assert.equal(waker.heldNow, 0);
    set({ kind: "refuse", status: 503, reason: "Starting", message: "booting", retryAfter: 2 });
    const again = waker.hold(of("a3", "a"), "a3--a");
    assert.equal(waker.heldNow, 1, "team a's places given back");
    set(
      { kind: "refuse", status: 404, reason: "UnknownSandbox", message: "gone" },
      of("a3", "a").sandbox,
    );
    await again;
  });
});
