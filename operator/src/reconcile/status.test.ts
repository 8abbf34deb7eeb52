/**
 * The Sandbox status as a pure function of what a reconcile observed, table
 * by table, as kubernetes-sigs/agent-sandbox tests computeConditions: every
 * branch the reconciler can take, including those no end-to-end test
 * reaches (the agent's 409 and 400, an unreachable agent, a missing
 * template, a policy that stops resolving under a running VM).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ObservedSandbox } from "@turgon/api/agent";
import type { Condition, SandboxNode, SandboxStatus } from "@turgon/api/crd";
import { AgentRequestError, AgentUnreachableError } from "../agents/client.ts";
import {
  type AgentReport,
  agentFailure,
  lostWithNode,
  nodeLoss,
  type Observation,
  sandboxStatus,
} from "./status.ts";

const NOW = new Date("2026-12-01T10:00:00Z");
const EARLIER = "2026-12-01T09:00:00Z";
const GENERATION = 3;

const condition = (
  type: string,
  status: Condition["status"],
  reason: string,
  message = "",
): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: EARLIER,
  observedGeneration: 2,
});

/** A sandbox nobody has looked at yet. */
const fresh: SandboxStatus = {};
/** Placed on n1, its VM not yet asked for. */
const placed: SandboxStatus = {
  phase: "Starting",
  nodeName: "n1",
  observedGeneration: 2,
  conditions: [condition("Scheduled", "True", "Scheduled"), condition("Ready", "False", "Booting")],
};
/** Running on n1 and serving its routes. */
const running: SandboxStatus = {
  phase: "Running",
  nodeName: "n1",
  startedAt: "2026-12-01T08:00:00Z",
  observedGeneration: 2,
  ingress: { url: "http://s--ns.localhost/", routes: [], access: "private" },
  conditions: [
    condition("Scheduled", "True", "Scheduled"),
    condition("Ready", "True", "Running"),
    condition("PolicyApplied", "True", "Applied"),
    condition("Suspended", "False", "Running"),
    condition("IngressReady", "True", "Routed"),
  ],
};
/** Failed with its node. */
const lost: SandboxStatus = {
  ...running,
  phase: "Failed",
  message: "SandboxNode n1 was lost",
  conditions: [
    condition("Ready", "False", "NodeLost"),
    condition("IngressReady", "False", "NodeLost"),
  ],
};

const observed = (phase: ObservedSandbox["phase"], extra: Partial<ObservedSandbox> = {}) =>
  ({
    uid: "0b6a5e36-0000-4000-8000-000000000001",
    name: "s",
    namespace: "ns",
    generation: GENERATION,
    phase,
    routes: [{ prefix: "/", port: 8080, stripPrefix: true }],
    secretNames: [],
    ...(phase === "Running" || phase === "Suspending"
      ? { startedAt: "2026-12-01T09:59:58.123Z" }
      : {}),
    ...extra,
  }) satisfies ObservedSandbox;

const report = (
  seen: ObservedSandbox,
  extra: Partial<AgentReport> = {},
  ingress: boolean = true,
): Observation => ({
  kind: "AgentReported",
  report: {
    observed: seen,
    spec: ingress
      ? { ingress: { enabled: true, routes: [{ prefix: "/", port: 8080, stripPrefix: true }] } }
      : {},
    policy: { mode: "enforce", allowedHosts: ["pypi.org"], secrets: [] },
    ingressUrl: "http://s--ns.localhost/",
    sshCommand: "ssh s.ns@localhost",
    ...extra,
  },
});

const agentFailed = (error: unknown): Observation => ({
  kind: "AgentFailed",
  failure: agentFailure(error, "n1"),
});

/** A SandboxNode whose Ready condition turned to `status` at `since`. */
const node = (status: Condition["status"], since: string): SandboxNode =>
  ({
    metadata: { name: "n1" },
    spec: { address: "https://127.0.0.1:1" },
    status: {
      conditions: [
        {
          type: "Ready",
          status,
          reason: "NodeStatusUnknown",
          message: "the agent stopped posting heartbeats",
          lastTransitionTime: since,
        },
      ],
    },
  }) as unknown as SandboxNode;

/** The parts of a status the table compares: phase, node, and each condition as "Status/Reason". */
function summary(status: SandboxStatus) {
  return {
    phase: status.phase,
    nodeName: status.nodeName,
    conditions: Object.fromEntries(
      (status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]),
    ),
  };
}

interface Case {
  name: string;
  previous: SandboxStatus;
  observation: Observation;
  phase: SandboxStatus["phase"];
  nodeName?: string;
  conditions: Record<string, string>;
  /** status.message; undefined means none. */
  message?: string | RegExp;
  /** Anything else the case is about. */
  also?: (status: SandboxStatus) => void;
}

const cases: Case[] = [
  // Placement.
  {
    name: "a new sandbox placed on a node: Starting, booting",
    previous: fresh,
    observation: { kind: "Scheduled", nodeName: "n1" },
    phase: "Starting",
    nodeName: "n1",
    conditions: { Scheduled: "True/Scheduled", Ready: "False/Booting" },
    also: (s) =>
      assert.equal(
        s.conditions?.find((c) => c.type === "Scheduled")?.message,
        "placed on SandboxNode n1",
      ),
  },
  {
    name: "no node fits: Pending, and both Scheduled and Ready say why",
    previous: fresh,
    observation: {
      kind: "Unschedulable",
      reason: "NodeSelectorMismatch",
      message: 'no Ready SandboxNode matches nodeSelector {"gpu":"h100"}',
    },
    phase: "Pending",
    conditions: {
      Scheduled: "False/NodeSelectorMismatch",
      Ready: "False/NodeSelectorMismatch",
    },
    message: /nodeSelector/,
  },
  {
    name: "its node was lost and restartPolicy is Never: it stays Failed, recording the generation seen",
    previous: lost,
    observation: { kind: "StaysLost" },
    phase: "Failed",
    nodeName: "n1",
    conditions: { Ready: "False/NodeLost", IngressReady: "False/NodeLost" },
    message: "SandboxNode n1 was lost",
    also: (s) => assert.deepEqual({ ...s, observedGeneration: 2 }, lost, "nothing else moves"),
  },
  {
    name: "its node was lost and restartPolicy is OnNodeFailure: Pending again, placed nowhere",
    previous: lost,
    observation: { kind: "Rescheduling" },
    phase: "Pending",
    conditions: {
      Ready: "False/NodeLost",
      IngressReady: "False/NodeLost",
      Scheduled: "False/Rescheduling",
    },
    message: "SandboxNode n1 was lost",
    also: (s) => assert.equal(s.startedAt, undefined, "a new VM will start afresh"),
  },

  // The template.
  {
    name: "TemplateNotFound on a new sandbox: Pending",
    previous: fresh,
    observation: {
      kind: "TemplateNotFound",
      message: 'spec.templateRef.name: SandboxTemplate "gone" does not exist',
    },
    phase: "Pending",
    conditions: { Ready: "False/TemplateNotFound" },
    message: /SandboxTemplate "gone" does not exist/,
  },
  {
    name: "TemplateNotFound on a placed sandbox: it keeps its node and phase, not Ready",
    previous: placed,
    observation: { kind: "TemplateNotFound", message: "spec.templateRef.name: gone" },
    phase: "Starting",
    nodeName: "n1",
    conditions: { Scheduled: "True/Scheduled", Ready: "False/TemplateNotFound" },
    message: "spec.templateRef.name: gone",
  },

  // The egress policy.
  {
    name: "a policy that does not resolve holds a new sandbox Pending",
    previous: fresh,
    observation: {
      kind: "PolicyUnresolved",
      reason: "SecretNotFound",
      message: 'spec.network.secrets[0].secretKeyRef.name: Secret "s" does not exist',
    },
    phase: "Pending",
    conditions: { PolicyApplied: "False/SecretNotFound", Ready: "False/SecretNotFound" },
    message: /secretKeyRef\.name/,
  },
  {
    name: "a policy that stops resolving under a running VM: it keeps running and serving, PolicyApplied says why",
    previous: running,
    observation: {
      kind: "PolicyUnresolved",
      reason: "PolicyNotFound",
      message: 'spec.network.policyRef.name: SandboxPolicy "p" does not exist',
    },
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "True/Running",
      PolicyApplied: "False/PolicyNotFound",
      Suspended: "False/Running",
      IngressReady: "True/Routed",
    },
    also: (s) => assert.deepEqual(s.ingress, running.ingress),
  },

  // The node.
  {
    name: "its node NotReady within the grace period: Ready Unknown, nothing else changes",
    previous: running,
    observation: {
      kind: "NodeNotReady",
      loss: nodeLoss("n1", node("Unknown", "2026-12-01T09:59:55Z"), 30_000, NOW.getTime()),
    },
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "Unknown/NodeNotReady",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "True/Routed",
    },
  },
  {
    name: "its node NotReady past the grace period: Failed with NodeLost",
    previous: running,
    observation: {
      kind: "NodeNotReady",
      loss: nodeLoss("n1", node("Unknown", "2026-12-01T09:58:00Z"), 30_000, NOW.getTime()),
    },
    phase: "Failed",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/NodeLost",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/NodeLost",
    },
    message:
      "SandboxNode n1 was lost (NodeStatusUnknown: the agent stopped posting heartbeats); the VM is gone with it",
  },
  {
    name: "its SandboxNode deleted: lost at once",
    previous: placed,
    observation: { kind: "NodeNotReady", loss: nodeLoss("n1", undefined, 30_000, NOW.getTime()) },
    phase: "Failed",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/NodeLost",
      IngressReady: "False/NodeLost",
    },
    message: /the SandboxNode was deleted/,
  },

  // The agent refuses or cannot be reached.
  {
    name: "NodeFull (the agent's 409): Pending, placed nowhere, to be placed again",
    previous: placed,
    observation: agentFailed(new AgentRequestError(409, "NodeFull", "no VM slot left (2 of 2)")),
    phase: "Pending",
    conditions: { Scheduled: "False/NodeFull", Ready: "False/Booting" },
    also: (s) =>
      assert.equal(
        s.conditions?.find((c) => c.type === "Scheduled")?.message,
        "no VM slot left (2 of 2)",
      ),
  },
  {
    name: "InvalidSpec (the agent's 400): Failed, naming each field as the Sandbox spells it",
    previous: placed,
    observation: agentFailed(
      new AgentRequestError(400, "InvalidSpec", "invalid desired state", [
        { path: "resources.memoryMiB", message: "must be at most 4096" },
        { path: "policy.deniedCIDRs[0]", message: "not a CIDR" },
        { path: "env.FOO", message: "too long" },
      ]),
    ),
    phase: "Failed",
    nodeName: "n1",
    conditions: { Scheduled: "True/Scheduled", Ready: "False/InvalidSpec" },
    message:
      'spec.resources.memory: must be at most 4096; spec.network.deniedCIDRs[0]: not a CIDR; spec.env (name "FOO"): too long',
  },
  {
    name: "InvalidSpec without fields: the agent's message",
    previous: placed,
    observation: agentFailed(new AgentRequestError(400, "InvalidSpec", "image not in the store")),
    phase: "Failed",
    nodeName: "n1",
    conditions: { Scheduled: "True/Scheduled", Ready: "False/InvalidSpec" },
    message: "image not in the store",
  },
  {
    name: "AgentUnreachable: Ready Unknown, the phase stays",
    previous: running,
    observation: agentFailed(
      new AgentUnreachableError("https://10.0.0.1:9443", new Error("connect ECONNREFUSED")),
    ),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "Unknown/AgentUnreachable",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "True/Routed",
    },
    also: (s) =>
      assert.match(
        s.conditions?.find((c) => c.type === "Ready")?.message ?? "",
        /10\.0\.0\.1:9443 is unreachable: connect ECONNREFUSED/,
      ),
  },
  {
    name: "an agent error nobody planned for: AgentError, not Booting",
    previous: placed,
    observation: agentFailed(new AgentRequestError(500, "Internal", "disk full")),
    phase: "Starting",
    nodeName: "n1",
    conditions: { Scheduled: "True/Scheduled", Ready: "False/AgentError" },
    also: (s) =>
      assert.equal(
        s.conditions?.find((c) => c.type === "Ready")?.message,
        "node agent n1 answered 500: disk full",
      ),
  },
  {
    name: "an error that is not the agent's answer: status says nothing new",
    previous: placed,
    observation: agentFailed(new TypeError("a bug")),
    phase: "Starting",
    nodeName: "n1",
    conditions: { Scheduled: "True/Scheduled", Ready: "False/Booting" },
  },

  // What the agent reports.
  {
    name: "Booting: Starting, not Ready, not routed yet",
    previous: placed,
    observation: report(observed("Booting")),
    phase: "Starting",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/Booting",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/NotRunning",
    },
  },
  {
    name: "Running with every route answering: Ready, routed, with its URL and start time",
    previous: placed,
    observation: report(observed("Running", { ingressReady: { ready: true, message: "ok" } })),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "True/Running",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "True/Routed",
    },
    also: (s) => {
      assert.deepEqual(s.ingress, {
        url: "http://s--ns.localhost/",
        routes: [{ prefix: "/", port: 8080, stripPrefix: true }],
        access: "private",
      });
      assert.equal(s.startedAt, "2026-12-01T09:59:58Z", "seconds, as metav1.Time");
      assert.match(
        s.conditions?.find((c) => c.type === "PolicyApplied")?.message ?? "",
        /egress policy \(enforce\) with 1 allowed host\(s\) and 0 secret\(s\)/,
      );
      assert.equal(s.ssh, undefined);
    },
  },
  {
    name: "Running with a front: its port in status.ingress, in the write that sets Ready",
    previous: placed,
    observation: report(
      observed("Running", { ingressReady: { ready: true, message: "ok" }, frontPort: 41_007 }),
    ),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "True/Running",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "True/Routed",
    },
    also: (s) => assert.equal(s.ingress?.frontPort, 41_007),
  },
  {
    name: "Suspended with wakeOnRequest (a template's, say): status.ingress says so for the router",
    previous: placed,
    observation: report(observed("Suspended"), {
      spec: {
        ingress: { enabled: true, routes: [{ prefix: "/", port: 8080, stripPrefix: true }] },
        lifecycle: { wakeOnRequest: true },
      },
    }),
    phase: "Suspended",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/Suspended",
      PolicyApplied: "True/Applied",
      Suspended: "True/Checkpointed",
      IngressReady: "False/NotRunning",
    },
    also: (s) => assert.equal(s.ingress?.wakeOnRequest, true),
  },
  {
    name: "Running while a route does not answer yet: not Ready (IngressNotReady)",
    previous: placed,
    observation: report(
      observed("Running", { ingressReady: { ready: false, message: "/ → :8080 refused" } }),
    ),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/IngressNotReady",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/NotServing",
    },
    also: (s) =>
      assert.equal(
        s.conditions?.find((c) => c.type === "Ready")?.message,
        "the VM is running; not serving yet: / → :8080 refused",
      ),
  },
  {
    name: "Running, but another sandbox claims the same host: HostConflict",
    previous: running,
    observation: report(observed("Running"), {
      hostConflict: "the host s--ns is also claimed by ns--x/s",
    }),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/HostConflict",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/HostConflict",
    },
  },
  {
    name: "Running without ingress: Ready, IngressReady says it is off, SSH is offered",
    previous: placed,
    observation: report(
      observed("Running"),
      { spec: { ssh: { enabled: true } }, hostConflict: "ignored without ingress" },
      false,
    ),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "True/Running",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/IngressDisabled",
    },
    also: (s) => {
      assert.equal(s.ingress, undefined);
      assert.deepEqual(s.ssh, { command: "ssh s.ns@localhost" });
    },
  },
  {
    name: "Suspending: still Running, Suspended False while the disk is checkpointed",
    previous: running,
    observation: report(observed("Suspending")),
    phase: "Running",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/Suspending",
      PolicyApplied: "True/Applied",
      Suspended: "False/Suspending",
      IngressReady: "False/NotRunning",
    },
  },
  {
    name: "Suspended: phase Suspended, Suspended True (Checkpointed), not Ready",
    previous: running,
    observation: report(observed("Suspended", { reason: "Suspended" })),
    phase: "Suspended",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/Suspended",
      PolicyApplied: "True/Applied",
      Suspended: "True/Checkpointed",
      IngressReady: "False/NotRunning",
    },
  },
  {
    name: "Failed: phase Failed with the agent's reason and message",
    previous: placed,
    observation: report(
      observed("Failed", { reason: "BootFailed", message: "QEMU exited with 1" }),
    ),
    phase: "Failed",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/BootFailed",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/NotRunning",
    },
    message: "QEMU exited with 1",
  },
  {
    name: "Stopping: Terminating",
    previous: running,
    observation: report(observed("Stopping")),
    phase: "Terminating",
    nodeName: "n1",
    conditions: {
      Scheduled: "True/Scheduled",
      Ready: "False/Stopping",
      PolicyApplied: "True/Applied",
      Suspended: "False/Running",
      IngressReady: "False/NotRunning",
    },
  },
];

describe("sandboxStatus", () => {
  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.previous);
      const status = sandboxStatus(c.previous, GENERATION, c.observation, NOW);
      assert.deepEqual(summary(status), {
        phase: c.phase,
        nodeName: c.nodeName,
        conditions: c.conditions,
      });
      if (c.message instanceof RegExp) assert.match(status.message ?? "", c.message);
      else assert.equal(status.message, c.message);
      assert.equal(status.observedGeneration, GENERATION, "status records the generation it saw");
      assert.deepEqual(c.previous, before, "the previous status is left as it was");
      c.also?.(status);
    });
  }

  it("moves a condition's transition time only when its status changes", () => {
    const status = sandboxStatus(
      running,
      GENERATION,
      agentFailed(new AgentUnreachableError("https://n1", new Error("timeout"))),
      NOW,
    );
    const byType = (type: string) => status.conditions?.find((c) => c.type === type);
    assert.equal(byType("Ready")?.lastTransitionTime, "2026-12-01T10:00:00Z");
    assert.equal(byType("Ready")?.observedGeneration, GENERATION);
    assert.equal(byType("Scheduled")?.lastTransitionTime, EARLIER, "not touched");
    assert.equal(byType("Scheduled")?.observedGeneration, 2, "not touched");

    // The same status with a new reason keeps its time.
    const again = sandboxStatus(
      status,
      GENERATION,
      {
        kind: "NodeNotReady",
        loss: nodeLoss("n1", node("Unknown", EARLIER), 7_200_000, NOW.getTime()),
      },
      new Date("2026-12-01T10:05:00Z"),
    );
    const ready = again.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.reason, "NodeNotReady");
    assert.equal(ready?.lastTransitionTime, "2026-12-01T10:00:00Z");
  });
});

describe("nodeLoss", () => {
  it("counts the grace period from the node's Ready transition, and says when it runs out", () => {
    const since = "2026-12-01T09:59:50Z";
    const waiting = nodeLoss("n1", node("Unknown", since), 30_000, NOW.getTime());
    assert.equal(waiting.lost, false);
    assert.equal(waiting.lostAt, Date.parse(since) + 30_000);
    assert.equal(
      waiting.message,
      "SandboxNode n1 is not ready (NodeStatusUnknown: the agent stopped posting heartbeats)",
    );
    assert.equal(nodeLoss("n1", node("Unknown", since), 30_000, waiting.lostAt).lost, true);
  });
});

describe("lostWithNode", () => {
  it("is true only for a sandbox Failed because its node was lost", () => {
    assert.equal(lostWithNode(lost), true);
    assert.equal(lostWithNode(running), false);
    assert.equal(lostWithNode(undefined), false);
    const failedOtherwise = sandboxStatus(
      placed,
      GENERATION,
      report(observed("Failed", { reason: "BootFailed" })),
      NOW,
    );
    assert.equal(lostWithNode(failedOtherwise), false);
  });
});
