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
import { type Route, SandboxDirectory } from "./directory.ts";
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

const teamOf = (route: Route) => (route.kind === "serve" ? route.team : `(${route.reason})`);

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
      body: agentNode(node),
    });
    const { status, ...made } = labelledServing("web", namespace, node, "intruders") as Sandbox & {
      status: unknown;
    };
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
});
