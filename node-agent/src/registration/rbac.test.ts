/**
 * deploy/rbac.yaml on the real API server: an agent identity (a client
 * certificate in turgon:node-agents, or a ServiceAccount bound to the
 * ClusterRole, with a real token from the TokenRequest API) may create and
 * update its own SandboxNode and nothing else.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "@turgon/api/crd";
import {
  installCrds,
  kubeConfigAs,
  kubectl,
  testKubeConfig,
  uniqueName,
} from "@turgon/dev/testing";
import { logger } from "../logger.ts";
import { NodeRegistration } from "./registration.ts";

const RBAC = new URL("../../deploy/rbac.yaml", import.meta.url).pathname;
const POLICY_MESSAGE = /a node agent may only write its own SandboxNode/;
const NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";

const sandboxNodes = { group: GROUP, version: VERSION, plural: "sandboxnodes" };
const sandboxNode = (name: string) => ({
  apiVersion: API_VERSION,
  kind: "SandboxNode",
  metadata: { name },
  spec: { address: "http://127.0.0.1:3" },
});

/** Whether an API error is the admission policy's refusal (not RBAC's, which is also a 403). */
const refusedByPolicy = (error: unknown) =>
  (error as { code?: number }).code === 403 &&
  POLICY_MESSAGE.test(String((error as { body?: unknown }).body));

/** A KubeConfig for the test API server that authenticates with a bearer token. */
function kubeConfigWithToken(token: string): KubeConfig {
  const cluster = testKubeConfig().getCurrentCluster();
  assert.ok(cluster);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "token", token }],
    contexts: [{ name: "token", cluster: cluster.name, user: "token" }],
    currentContext: "token",
  });
  return kc;
}

/** Idempotent create with the admin identity (409 means it is already there). */
async function ensure(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}

/**
 * The admission policy is enforced once the API server has observed it and
 * its binding (and RBAC the bindings): waits until a probe write to a
 * foreign name is refused by the policy itself.
 */
async function waitForPolicy(api: CustomObjectsApi): Promise<void> {
  const probe = uniqueName("probe");
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await api.createClusterCustomObject({ ...sandboxNodes, body: sandboxNode(probe) });
      await kubectl(["delete", "sandboxnode", probe]);
    } catch (error) {
      if (refusedByPolicy(error)) return;
      if ((error as { code?: number }).code !== 403) throw error;
    }
    if (Date.now() > deadline) throw new Error("the admission policy never took effect");
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A registration as an agent makes it, for a node that serves nothing (these tests look only at RBAC). */
function testRegistration(kc: KubeConfig, nodeName: string, accelerator: "kvm" | "tcg") {
  return new NodeRegistration(
    kc,
    {
      nodeName,
      address: "http://127.0.0.1:1",
      ingressAddress: "http://127.0.0.1:2",
      capacity: { cpus: 2, memoryMiB: 2048, vms: 4 },
      allocatable: { cpus: 8, memoryMiB: 2048, vms: 4 },
      accelerator: () => accelerator,
      runtime: "qemu",
      heartbeatSeconds: 60,
      agentVersion: "test",
    },
    logger.child({}, { level: "warn" }),
  );
}

describe("node agent RBAC", () => {
  const own = uniqueName("own");
  const other = uniqueName("other");

  before(async () => {
    await installCrds();
    const applied = await kubectl(["apply", "-f", RBAC]);
    assert.equal(applied.exitCode, 0, applied.tail);
    // The admission policy is enforced once the API server has observed its
    // binding: wait until a probe write to a foreign name is refused.
    const api = (
      await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"])
    ).makeApiClient(CustomObjectsApi);
    await waitForPolicy(api);
  });
  after(() => kubectl(["delete", "sandboxnode", own, other, "--ignore-not-found"]));

  it("lets an agent register and heartbeat its own SandboxNode", async () => {
    const kc = await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"]);
    const registration = testRegistration(kc, own, "tcg");
    await registration.start();
    registration.stop();
    const ready = await kubectl([
      "get",
      "sandboxnode",
      own,
      "-o",
      "jsonpath={.status.conditions[0].status}",
    ]);
    assert.equal(ready.stdout, "True");
  });

  it("refuses an agent that writes another node's SandboxNode", async () => {
    const api = (
      await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"])
    ).makeApiClient(CustomObjectsApi);
    await assert.rejects(
      api.createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: "sandboxnodes",
        body: {
          apiVersion: API_VERSION,
          kind: "SandboxNode",
          metadata: { name: other },
          spec: { address: "http://127.0.0.1:3" },
        },
      }),
      (error: { code?: number; body?: string }) => {
        assert.equal(error.code, 403, String(error.body));
        assert.match(String(error.body), POLICY_MESSAGE);
        return true;
      },
    );
  });

  it("gives an agent nothing beyond SandboxNodes", async () => {
    const api = (
      await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"])
    ).makeApiClient(CustomObjectsApi);
    await assert.rejects(
      api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: "sandboxpolicies" }),
      (error: { code?: number }) => error.code === 403,
    );
  });
});

describe("node agent RBAC for ServiceAccounts", () => {
  // The DaemonSet's identity, bound to the ClusterRole by deploy/rbac.yaml.
  const agentSa = { namespace: "turgon-system", name: "turgon-node-agent" };
  // Any other ServiceAccount an administrator binds to the same ClusterRole.
  const otherSa = { namespace: uniqueName("sa"), name: "custom-agent" };
  const extraBinding = uniqueName("turgon-node-agent-custom");
  const kvm = uniqueName("kvm"); // a Node object and the SandboxNode of the same name
  const foreign = uniqueName("foreign"); // another node's SandboxNode
  let nodeUid = "";
  const admin = testKubeConfig();
  const core = admin.makeApiClient(CoreV1Api);

  /** A real token from the TokenRequest API, bound to the Node `kvm` unless `unbound`. */
  const token = async (sa: { namespace: string; name: string }, unbound = false) => {
    const answer = await core.createNamespacedServiceAccountToken({
      ...sa,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 600,
          ...(unbound
            ? {}
            : { boundObjectRef: { apiVersion: "v1", kind: "Node", name: kvm, uid: nodeUid } }),
        },
      },
    });
    assert.ok(answer.status?.token);
    return answer.status.token;
  };
  const apiAs = async (sa: { namespace: string; name: string }, unbound = false) =>
    kubeConfigWithToken(await token(sa, unbound)).makeApiClient(CustomObjectsApi);

  before(async () => {
    await installCrds();
    const applied = await kubectl(["apply", "-f", RBAC]);
    assert.equal(applied.exitCode, 0, applied.tail);
    for (const namespace of [agentSa.namespace, otherSa.namespace])
      await ensure(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
    for (const sa of [agentSa, otherSa])
      await ensure(() =>
        core.createNamespacedServiceAccount({
          namespace: sa.namespace,
          body: { metadata: { name: sa.name } },
        }),
      );
    await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: extraBinding },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "turgon-node-agent",
        },
        subjects: [{ kind: "ServiceAccount", ...otherSa }],
      },
    });
    // No kubelet: a Node object is all a node-bound token needs to carry the node's name.
    const node = await core.createNode({ body: { metadata: { name: kvm } } });
    nodeUid = node.metadata?.uid as string;
    await admin
      .makeApiClient(CustomObjectsApi)
      .createClusterCustomObject({ ...sandboxNodes, body: sandboxNode(foreign) });
    await waitForPolicy(await apiAs(agentSa, true));
    await waitForPolicy(await apiAs(otherSa, true));
  });

  after(async () => {
    await kubectl(["delete", "sandboxnode", kvm, foreign, "--ignore-not-found"]);
    await kubectl(["delete", "node", kvm, "--ignore-not-found"]);
    await kubectl(["delete", "clusterrolebinding", extraBinding, "--ignore-not-found"]);
    await kubectl(["delete", "serviceaccount", agentSa.name, "-n", agentSa.namespace]);
    await kubectl(["delete", "namespace", otherSa.namespace, "--wait=false"]);
  });

  it("carries the node's name in a token bound to the Node", async () => {
    const review = await kubeConfigWithToken(await token(agentSa))
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: {} });
    const user = review.status?.userInfo;
    assert.equal(user?.username, `system:serviceaccount:${agentSa.namespace}:${agentSa.name}`);
    assert.deepEqual(user?.extra?.[NODE_NAME_EXTRA], [kvm]);
  });

  it("lets the DaemonSet's ServiceAccount register and heartbeat its own node's SandboxNode", async () => {
    const registration = testRegistration(kubeConfigWithToken(await token(agentSa)), kvm, "kvm");
    await registration.start();
    registration.stop();
    await registration.heartbeat();
    const ready = await kubectl([
      "get",
      "sandboxnode",
      kvm,
      "-o",
      "jsonpath={.status.conditions[0].status}",
    ]);
    assert.equal(ready.stdout, "True");
  });

  it("refuses the ServiceAccount another node's SandboxNode, created or patched", async () => {
    const api = await apiAs(agentSa);
    const refused = (error: { code?: number; body?: string }) => {
      assert.equal(error.code, 403, String(error.body));
      assert.match(String(error.body), POLICY_MESSAGE);
      assert.match(String(error.body), new RegExp(`bound to node ${kvm}`));
      return true;
    };
    await assert.rejects(
      api.createClusterCustomObject({ ...sandboxNodes, body: sandboxNode(uniqueName("other")) }),
      refused,
    );
    await assert.rejects(
      api.patchClusterCustomObjectStatus(
        { ...sandboxNodes, name: foreign, body: { status: { lastHeartbeatTime: null } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
      refused,
    );
    await assert.rejects(
      api.deleteClusterCustomObject({ ...sandboxNodes, name: foreign }),
      (error: { code?: number }) => error.code === 403,
      "RBAC grants no delete",
    );
  });

  it("refuses a ServiceAccount token that names no node, even for that node's SandboxNode", async () => {
    const api = await apiAs(agentSa, true);
    await assert.rejects(
      api.patchClusterCustomObjectStatus(
        { ...sandboxNodes, name: kvm, body: { status: { agentVersion: "hijacked" } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
      (error: { code?: number; body?: string }) => {
        assert.equal(error.code, 403, String(error.body));
        assert.match(String(error.body), /whose token names no node/);
        return true;
      },
    );
  });

  it("holds any ServiceAccount bound to the ClusterRole to its own node, and leaves admins alone", async () => {
    const api = await apiAs(otherSa);
    await api.patchClusterCustomObjectStatus(
      { ...sandboxNodes, name: kvm, body: { status: { agentVersion: "custom" } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await assert.rejects(
      api.patchClusterCustomObjectStatus(
        { ...sandboxNodes, name: foreign, body: { status: { agentVersion: "custom" } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
      (error: { code?: number; body?: string }) =>
        error.code === 403 && POLICY_MESSAGE.test(String(error.body)),
    );
    // The cluster admin (system:masters) holds every verb, the marker too: not an agent.
    const patched = await kubectl([
      "patch",
      "sandboxnode",
      foreign,
      "--type=merge",
      "-p",
      '{"spec":{"unschedulable":true}}',
    ]);
    assert.equal(patched.exitCode, 0, patched.tail);
  });
});
