import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Namespace,
} from "@kubernetes/client-node";
import { GROUP, type Sandbox, type SandboxNode, VERSION } from "@turgon/api/crd";
import { TEAM_LABEL } from "@turgon/api/routing";
import {
  installCrds,
  kubeConfigAs,
  kubectl,
  testKubeConfig,
  uniqueName,
} from "@turgon/dev/testing";
import { eventually } from "@turgon/operator/testing";
import {
  customResourceInformer,
  type InformerSet,
  startCaches,
  stopCaches,
} from "@turgon/toolkit/kube";
import { logger } from "../logger.ts";
import { frontUrl, type Route, SandboxDirectory, servable } from "./directory.ts";
import { namespaceInformer } from "./namespaces.ts";

type Named = { metadata?: { name?: string; namespace?: string } };

/** An informer's events and cache, for the directory's pure logic (the real ones run below). */
class FakeInformer<T extends Named = Sandbox> extends EventEmitter {
  readonly objects = new Map<string, T>();
  private key(object: T) {
    return `${object.metadata?.namespace ?? ""}/${object.metadata?.name}`;
  }
  get(name: string, namespace?: string) {
    return this.objects.get(`${namespace ?? ""}/${name}`);
  }
  put(object: T) {
    const event = this.objects.has(this.key(object)) ? "update" : "add";
    this.objects.set(this.key(object), object);
    this.emit(event, object);
  }
  remove(object: T) {
    this.objects.delete(this.key(object));
    this.emit("delete", object);
  }
}

const ROOT = new URL("../../../", import.meta.url).pathname;
const FRONT_PORTS = { first: 41_000, last: 41_099 };
const NOW = "2026-01-01T00:00:00Z";

const sandbox = (name: string, namespace: string) =>
  ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace, uid: `${namespace}-${name}` },
    spec: { image: "i" },
  }) as unknown as Sandbox;

/** The status the operator writes once a sandbox serves: Running, Ready, routed, on `node`. */
const servingStatus = (name: string, namespace: string, node: string) => ({
  phase: "Running",
  nodeName: node,
  ingress: { url: `http://${name}--${namespace}.localhost/`, access: "private" },
  conditions: [
    { type: "Ready", status: "True", reason: "Serving", message: "", lastTransitionTime: NOW },
  ],
});

/** A serving sandbox whose author labelled it with another team's name. */
const labelledServing = (name: string, namespace: string, node: string, team: string) =>
  ({
    ...sandbox(name, namespace),
    metadata: { name, namespace, uid: `${namespace}-${name}`, labels: { [TEAM_LABEL]: team } },
    spec: { image: "i", ingress: { enabled: true, access: "private" } },
    status: servingStatus(name, namespace, node),
  }) as unknown as Sandbox;

const agentNode = (name: string) =>
  ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "SandboxNode",
    metadata: { name },
    spec: { address: "http://127.0.0.1:1", ingressAddress: "http://127.0.0.1:2" },
  }) as unknown as SandboxNode;

const namespaceObject = (name: string, team?: string): V1Namespace => ({
  metadata: { name, ...(team ? { labels: { [TEAM_LABEL]: team } } : {}) },
});

const teamOf = (route: Route) =>
  route.kind === "refuse" ? `(${route.reason})` : route.kind === "serve" ? route.team : "(wake)";

describe("sandbox directory", () => {
  it("refuses a host label two sandboxes claim, and serves the other again when one goes", () => {
    const sandboxes = new FakeInformer();
    const directory = new SandboxDirectory(
      sandboxes as never,
      new FakeInformer() as never,
      new FakeInformer() as never,
    );
    const one = sandbox("web--acme", "ml");
    const two = sandbox("web", "acme--ml");
    sandboxes.put(one);
    assert.equal(directory.route("web--acme--ml").kind, "refuse");
    assert.notEqual(
      (directory.route("web--acme--ml") as { reason: string }).reason,
      "HostConflict",
    );
    sandboxes.put(two);
    sandboxes.put(one); // an update does not make it the winner
    const conflict = directory.route("web--acme--ml");
    assert.equal(conflict.kind === "refuse" && conflict.status, 409);
    assert.equal(conflict.kind === "refuse" && conflict.reason, "HostConflict");
    assert.match(
      conflict.kind === "refuse" ? conflict.message : "",
      /acme--ml\/web, ml\/web--acme/,
    );
    sandboxes.remove(one);
    const back = directory.route("web--acme--ml");
    assert.equal(
      back.kind === "refuse" && back.reason,
      "IngressDisabled",
      "routed to acme--ml/web",
    );
    assert.match(back.kind === "refuse" ? back.message : "", /acme--ml\/web/);
  });

  it("gives a sandbox its namespace's team (label, else name), never the team its own label names", () => {
    const sandboxes = new FakeInformer();
    const nodes = new FakeInformer<SandboxNode>();
    const namespaces = new FakeInformer<V1Namespace>();
    const directory = new SandboxDirectory(sandboxes as never, nodes as never, namespaces as never);
    nodes.put(agentNode("n1"));
    sandboxes.put(labelledServing("web", "ml", "n1", "intruders"));
    assert.equal(teamOf(directory.route("web--ml")), "ml", "a namespace not (yet) cached");
    namespaces.put(namespaceObject("ml"));
    assert.equal(teamOf(directory.route("web--ml")), "ml", "an unlabelled namespace");
    namespaces.put(namespaceObject("ml", "research"));
    assert.equal(teamOf(directory.route("web--ml")), "research");
    assert.equal(directory.teamOf("ml"), "research", "what the SSH gateway asks");
    namespaces.put(namespaceObject("ml", "platform"));
    assert.equal(teamOf(directory.route("web--ml")), "platform", "relabelled: at once");
    namespaces.remove(namespaceObject("ml", "platform"));
    assert.equal(teamOf(directory.route("web--ml")), "ml");
  });
});

type ConditionStatus = "True" | "False" | "Unknown";
const condition = (type: string, status: ConditionStatus, reason: string) => ({
  type,
  status,
  reason,
  message: "",
  lastTransitionTime: NOW,
});

describe("servable", () => {
  const running = (
    ready: [ConditionStatus, string] | undefined,
    ingressReady: [ConditionStatus, string] | undefined,
  ) => ({
    phase: "Running" as const,
    conditions: [
      ...(ready ? [condition("Ready", ...ready)] : []),
      ...(ingressReady ? [condition("IngressReady", ...ingressReady)] : []),
    ],
  });
  // Every Ready the operator writes (operator/src/reconcile/status.ts), with every IngressReady.
  const readies: [ConditionStatus, string][] = [
    ["True", "Running"],
    ["False", "Booting"],
    ["False", "IngressNotReady"],
    ["False", "HostConflict"],
    ["False", "AgentError"],
    ["False", "NodeLost"],
    ["Unknown", "AgentUnreachable"],
    ["Unknown", "NodeNotReady"],
    ["Unknown", "SomethingElse"],
  ];
  const ingressReadies: ([ConditionStatus, string] | undefined)[] = [
    ["True", "Routed"],
    ["False", "NotServing"],
    ["False", "NodeLost"],
    ["Unknown", "Unknown"],
    undefined,
  ];

  it("serves Ready=True, and Ready=Unknown for an unreachable agent or node while IngressReady=True; nothing else", () => {
    for (const ready of readies)
      for (const ingressReady of ingressReadies) {
        const expected =
          ready[0] === "True" ||
          (ready[0] === "Unknown" &&
            (ready[1] === "AgentUnreachable" || ready[1] === "NodeNotReady") &&
            ingressReady?.[0] === "True");
        assert.equal(
          servable(running(ready, ingressReady)),
          expected,
          `Ready=${ready.join("/")} IngressReady=${ingressReady?.join("/") ?? "(none)"}`,
        );
      }
    assert.equal(servable(running(undefined, ["True", "Routed"])), false, "no Ready at all");
  });

  it("serves only phase Running, whatever the conditions say", () => {
    const conditions = [
      condition("Ready", "True", "Running"),
      condition("IngressReady", "True", "Routed"),
    ];
    for (const phase of ["Pending", "Starting", "Suspended", "Failed", "Terminating"] as const)
      assert.equal(servable({ phase, conditions }), false, phase);
    assert.equal(servable(undefined), false);
    assert.equal(servable({}), false);
  });
});

describe("frontUrl", () => {
  const range = { first: 41_000, last: 41_999 };

  it("is the node's ingress address with the front's port", () => {
    assert.equal(frontUrl("https://10.0.0.5:8443", 41_000, range), "https://10.0.0.5:41000");
    assert.equal(
      frontUrl("https://node-a.example:8443", 41_999, range),
      "https://node-a.example:41999",
    );
    assert.equal(frontUrl("http://10.0.0.5", 41_500, range), "http://10.0.0.5:41500");
    assert.equal(frontUrl("https://10.0.0.5:8443/", 41_500, range), "https://10.0.0.5:41500/");
  });

  it("keeps an IPv6 literal host in its brackets", () => {
    assert.equal(frontUrl("https://[fd00::5]:8443", 41_001, range), "https://[fd00::5]:41001");
    assert.equal(frontUrl("http://[::1]:8080", 41_002, range), "http://[::1]:41002");
    const url = new URL(frontUrl("https://[fd00::5]:8443", 41_001, range) ?? "");
    assert.equal(url.hostname, "[fd00::5]");
    assert.equal(url.port, "41001");
  });

  it("is none for a port outside the node's range, a node with no range, or no port", () => {
    for (const port of [40_999, 42_000, 1, 8443, 65_535, 0, -1, 41_000.5, Number.NaN])
      assert.equal(frontUrl("https://10.0.0.5:8443", port, range), undefined, String(port));
    assert.equal(frontUrl("https://10.0.0.5:8443", 41_000, undefined), undefined);
    assert.equal(frontUrl("https://10.0.0.5:8443", undefined, range), undefined);
    assert.equal(frontUrl("not a url", 41_000, range), undefined);
  });
});

describe("sandbox directory: the front and the servable gate in a route", () => {
  const setup = (
    nodeSpec: Partial<SandboxNode["spec"]>,
    status: Record<string, unknown>,
    spec?: Record<string, unknown>,
  ) => {
    const sandboxes = new FakeInformer();
    const nodes = new FakeInformer<SandboxNode>();
    const directory = new SandboxDirectory(
      sandboxes as never,
      nodes as never,
      new FakeInformer() as never,
    );
    const node = agentNode("n1");
    nodes.put({ ...node, spec: { ...node.spec, ...nodeSpec } } as SandboxNode);
    const base = labelledServing("web", "ml", "n1", "ml");
    sandboxes.put({
      ...base,
      ...(spec ? { spec } : {}),
      status: { ...base.status, ...status },
    } as unknown as Sandbox);
    return directory.route("web--ml");
  };
  const serving = servingStatus("web", "ml", "n1");
  const withFront = (frontPort: number) => ({ ingress: { ...serving.ingress, frontPort } });

  it("routes to the front inside the node's range, with the agent as the fallback", () => {
    const route = setup({ frontPorts: { first: 41_000, last: 41_010 } }, withFront(41_003));
    assert.equal(route.kind, "serve");
    assert.equal(route.kind === "serve" && route.front, "http://127.0.0.1:41003");
    assert.equal(route.kind === "serve" && route.agent, "http://127.0.0.1:2");
  });

  it("has no front outside the node's range, without a range, or without a port", () => {
    for (const [spec, status] of [
      [{ frontPorts: { first: 41_000, last: 41_010 } }, withFront(41_011)],
      [{ frontPorts: { first: 41_000, last: 41_010 } }, withFront(1)],
      [{}, withFront(41_003)],
      [{ frontPorts: { first: 41_000, last: 41_010 } }, {}],
    ] as const) {
      const route = setup(spec, status);
      assert.equal(route.kind, "serve");
      assert.equal(
        route.kind === "serve" && route.front,
        undefined,
        JSON.stringify([spec, status]),
      );
      assert.equal(route.kind === "serve" && route.agent, "http://127.0.0.1:2");
    }
  });

  it("serves while the agent is unreachable, and refuses once the node is lost", () => {
    const unreachable = setup(
      { frontPorts: { first: 41_000, last: 41_010 } },
      {
        ...withFront(41_003),
        conditions: [
          condition("Ready", "Unknown", "AgentUnreachable"),
          condition("IngressReady", "True", "Routed"),
        ],
      },
    );
    assert.equal(unreachable.kind === "serve" && unreachable.front, "http://127.0.0.1:41003");
    const notServing = setup(
      {},
      {
        conditions: [
          condition("Ready", "Unknown", "NodeNotReady"),
          condition("IngressReady", "False", "NotServing"),
        ],
      },
    );
    assert.equal(notServing.kind === "refuse" && notServing.reason, "Starting");
    const lost = setup(
      {},
      {
        phase: "Failed",
        conditions: [
          condition("Ready", "False", "NodeLost"),
          condition("IngressReady", "False", "NodeLost"),
        ],
      },
    );
    assert.equal(lost.kind === "refuse" && lost.reason, "SandboxFailed");
    const suspended = setup({}, { phase: "Suspended" });
    assert.equal(suspended.kind === "refuse" && suspended.reason, "Suspended");
  });

  it("a suspended or starting sandbox with wakeOnRequest (its own, else its template's in status) is a wake route with its access", () => {
    const own = (lifecycle: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      image: "i",
      ingress: { enabled: true, access: "private" },
      lifecycle,
      ...extra,
    });
    const kinds = (spec: Record<string, unknown>, status: Record<string, unknown> = {}) =>
      (["Suspended", "Starting", "Running"] as const).map((phase) => {
        const route = setup({}, { phase, ...status }, spec);
        return route.kind === "refuse" ? route.reason : `${route.kind} ${route.access}`;
      });
    assert.deepEqual(kinds(own({ wakeOnRequest: true })), [
      "wake private",
      "wake private",
      "serve private",
    ]);
    assert.deepEqual(kinds(own({ wakeOnRequest: false })), [
      "Suspended",
      "Starting",
      "serve private",
    ]);
    assert.deepEqual(kinds(own({})), ["Suspended", "Starting", "serve private"]);
    // From a template: only the operator's status knows; the sandbox's own false wins.
    const templated = { ...serving.ingress, wakeOnRequest: true };
    assert.deepEqual(kinds(own({}, { templateRef: { name: "t" } }), { ingress: templated }), [
      "wake private",
      "wake private",
      "serve private",
    ]);
    assert.deepEqual(
      kinds(own({ wakeOnRequest: false }, { templateRef: { name: "t" } }), { ingress: templated }),
      ["Suspended", "Starting", "serve private"],
    );
    // Without a template a status claim counts for nothing.
    assert.deepEqual(kinds(own({}), { ingress: templated }), [
      "Suspended",
      "Starting",
      "serve private",
    ]);
  });
});

describe("sandbox directory: the owner's spec over a status the operator has not rewritten", () => {
  const route = (
    spec: Record<string, unknown>,
    statusAccess: string,
    ready: ConditionStatus = "Unknown",
  ) => {
    const sandboxes = new FakeInformer();
    const nodes = new FakeInformer<SandboxNode>();
    const directory = new SandboxDirectory(
      sandboxes as never,
      nodes as never,
      new FakeInformer() as never,
    );
    nodes.put(agentNode("n1"));
    const base = labelledServing("web", "ml", "n1", "ml");
    // As the operator left it before the agent went out of reach: it rewrites nothing meanwhile.
    sandboxes.put({
      ...base,
      spec: { image: "i", ...spec },
      status: {
        ...base.status,
        ingress: { ...base.status?.ingress, access: statusAccess },
        conditions: [
          condition("Ready", ready, ready === "True" ? "Serving" : "AgentUnreachable"),
          condition("IngressReady", "True", "Routed"),
        ],
      },
    } as unknown as Sandbox);
    return directory.route("web--ml");
  };
  const reason = (r: Route) => (r.kind === "refuse" ? r.reason : `served ${r.access}`);
  const access = (r: Route) => (r.kind === "refuse" ? `(${r.reason})` : r.access);

  it("refuses a sandbox whose spec turns ingress off, whatever the status says", () => {
    for (const ready of ["Unknown", "True"] as const) {
      assert.equal(
        reason(route({ ingress: { enabled: false, access: "public" } }, "public", ready)),
        "IngressDisabled",
        `enabled: false, Ready=${ready}`,
      );
      assert.equal(
        reason(route({ ingress: { access: "public" } }, "public", ready)),
        "IngressDisabled",
        `no enabled and no template (off by default), Ready=${ready}`,
      );
      assert.equal(reason(route({}, "public", ready)), "IngressDisabled", "no ingress at all");
    }
    // Its template may enable it: then only the status (the template applied) knows.
    assert.equal(
      reason(route({ templateRef: { name: "t" }, ingress: { access: "public" } }, "public")),
      "served public",
    );
    assert.equal(
      reason(route({ templateRef: { name: "t" }, ingress: { enabled: false } }, "public")),
      "IngressDisabled",
    );
  });

  it("enforces the stricter of the spec's access and the status's", () => {
    const enabled = (more: Record<string, unknown> = {}) => ({
      ingress: { enabled: true, ...more },
    });
    // The owner tightened it while the agent was down: at once.
    assert.equal(access(route(enabled({ access: "private" }), "public")), "private");
    assert.equal(access(route(enabled({ access: "authenticated" }), "public")), "authenticated");
    assert.equal(access(route(enabled({ access: "private" }), "authenticated")), "private");
    // Unset without a template is the default, private.
    assert.equal(access(route(enabled(), "public")), "private");
    // Loosened: only once the operator has written it.
    assert.equal(access(route(enabled({ access: "public" }), "private")), "private");
    assert.equal(access(route(enabled({ access: "public" }), "authenticated")), "authenticated");
    assert.equal(access(route(enabled({ access: "public" }), "public")), "public");
    // With a template and no access of its own, the status has the template's.
    assert.equal(access(route({ templateRef: { name: "t" }, ...enabled() }, "public")), "public");
    assert.equal(
      access(route({ templateRef: { name: "t" }, ...enabled({ access: "private" }) }, "public")),
      "private",
    );
  });
});

describe("sandbox directory from the router's own informers (its RBAC) on the real API server", () => {
  const namespace = uniqueName("dir");
  const node = uniqueName("dir-node");
  const label = `web--${namespace}`;
  let caches: InformerSet | undefined;
  let directory: SandboxDirectory;
  const admin = testKubeConfig().makeApiClient(CustomObjectsApi);
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  const must = async (args: string[]) => {
    const result = await kubectl(args);
    assert.equal(result.exitCode, 0, `kubectl ${args.join(" ")}: ${result.tail}`);
  };

  before(async () => {
    await installCrds();
    await must(["apply", "-f", `${ROOT}operator/deploy/rbac.yaml`]);
    await must(["apply", "-f", `${ROOT}router/deploy/rbac.yaml`]);
    await must(["create", "namespace", namespace]);
    // A node and a serving sandbox as the agent and the operator leave them; its
    // author labels it with another team's name.
    await admin.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "sandboxnodes",
      body: { ...agentNode(node), spec: { ...agentNode(node).spec, frontPorts: FRONT_PORTS } },
    });
    const serving = labelledServing("web", namespace, node, "intruders");
    const { status, ...made } = {
      ...serving,
      status: {
        ...serving.status,
        ingress: { ...serving.status?.ingress, frontPort: FRONT_PORTS.first + 7 },
      },
    } as Sandbox & { status: unknown };
    const { uid: _, ...metadata } = made.metadata;
    await admin.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: "sandboxes",
      body: { ...made, metadata },
    });
    await admin.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: "sandboxes",
        name: "web",
        body: { status },
      },
      mergePatch,
    );

    const kc = await kubeConfigAs("system:serviceaccount:turgon-system:turgon-router", [
      "system:serviceaccounts",
      "system:serviceaccounts:turgon-system",
    ]);
    const resource = (plural: string) => ({ group: GROUP, version: VERSION, plural });
    const informers = {
      sandboxes: customResourceInformer(kc, resource("sandboxes")),
      nodes: customResourceInformer(kc, resource("sandboxnodes")),
      namespaces: namespaceInformer(kc),
    };
    directory = new SandboxDirectory(
      informers.sandboxes as never,
      informers.nodes as never,
      informers.namespaces,
    );
    caches = informers;
    await startCaches(informers, logger.child({}, { level: "warn" }));
  });

  after(async () => {
    if (caches) await stopCaches(caches);
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await kubectl(["delete", "sandboxnode", node, "--ignore-not-found"]);
  });

  it("follows the namespace's label as it is set, changed and removed, without a restart; the sandbox's own label never counts", async () => {
    const route = async () => teamOf(directory.route(label));
    await eventually("served, to the namespace's team", route, (team) => team === namespace);
    await must(["label", "namespace", namespace, `${TEAM_LABEL}=research`]);
    await eventually("bound to research", route, (team) => team === "research", 10_000);
    await must(["label", "namespace", namespace, `${TEAM_LABEL}=platform`, "--overwrite"]);
    await eventually("relabelled to platform", route, (team) => team === "platform", 10_000);
    await must(["label", "namespace", namespace, `${TEAM_LABEL}-`]);
    await eventually("unbound", route, (team) => team === namespace, 10_000);
    assert.notEqual(await route(), "intruders");
  });

  it("reads the node's front ports and the sandbox's front port through the CRDs' schemas", () => {
    const route = directory.route(label);
    assert.equal(
      route.kind === "serve" && route.front,
      `http://127.0.0.1:${FRONT_PORTS.first + 7}`,
    );
  });

  it("follows the owner's spec at once while the status stays as it was (an agent out of reach)", async () => {
    const patch = (body: Record<string, unknown>, status = false) =>
      (status ? admin.patchNamespacedCustomObjectStatus : admin.patchNamespacedCustomObject).call(
        admin,
        { group: GROUP, version: VERSION, namespace, plural: "sandboxes", name: "web", body },
        mergePatch,
      );
    const route = () => directory.route(label);
    // The operator had made it public, then the agent went out of reach.
    await patch({ spec: { ingress: { access: "public" } } });
    await patch({ status: { ingress: { access: "public" } } }, true);
    await eventually(
      "served public",
      route,
      (r) => r.kind === "serve" && r.access === "public",
      10_000,
    );
    await patch({ spec: { ingress: { access: "private" } } });
    await eventually(
      "private at once",
      route,
      (r) => r.kind === "serve" && r.access === "private",
      10_000,
    );
    await patch({ spec: { ingress: { enabled: false } } });
    await eventually(
      "refused at once",
      route,
      (r) => r.kind === "refuse" && r.reason === "IngressDisabled",
      10_000,
    );
  });
});
