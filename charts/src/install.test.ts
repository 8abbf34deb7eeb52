/**
 * The chart on the tests' real API server (kube-apiserver and etcd, no
 * kubelet: pods never run, but every object must be accepted). In a
 * namespace of the test's own:
 * - the all-features rendering passes the API server's strict server-side
 *   validation (a dry run: it includes the cluster-wide RBAC, which the
 *   shared control plane already holds for the other tests);
 * - `helm install` (CRDs included) makes one workload each for the
 *   operator, router, agent, web and worker; `helm upgrade` with a changed
 *   value lands; `helm uninstall` leaves the CRDs and a Sandbox made in
 *   between.
 * The ServiceMonitor, PrometheusRule and HTTPRoute are checked against
 * the real CRDs of prometheus-operator and Gateway API (foreign-crds.ts),
 * applied here first.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CUSTOM_RESOURCES, crdName } from "@turgon/api/crd";
import { installCrds, kubectl, testEnvironment, uniqueName } from "@turgon/dev/testing";
import { foreignCrdFiles } from "./foreign-crds.ts";
import { CI_DIR } from "./golden.ts";
import { CHART_DIR, helm, renderChart } from "./helm.ts";

const namespace = uniqueName("turgon-chart");
const release = namespace;
const kube = ["--kubeconfig", testEnvironment().kubeconfig, "--namespace", namespace];
/** Off in every install here: the cluster-wide RBAC belongs to the shared control plane's other tests. */
const SHARED_CLUSTER = ["--set", "rbac.clusterScoped=false"];
/**
 * The CRDs were applied by `kubectl apply --server-side` (field manager
 * kubectl): Helm takes them over, as a user does who moves CRDs applied by
 * hand under the chart. Server-side apply reports a conflict with kubectl's
 * ownership of .spec.versions even for an equal spec, so the takeover forces it.
 */
const ADOPT_CRDS = ["--take-ownership", "--force-conflicts"];

async function mustKubectl(args: string[]): Promise<string> {
  const result = await kubectl(args);
  assert.equal(result.exitCode, 0, `kubectl ${args.join(" ")}:\n${result.tail}`);
  return result.stdout;
}

async function mustHelmHere(args: string[]): Promise<string> {
  const result = await helm([...args, ...kube]);
  assert.equal(result.exitCode, 0, `helm ${args.join(" ")}:\n${result.tail}`);
  return result.stdout;
}

describe("the chart on the real API server", () => {
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "turgon-chart-"));
    // The CRDs are on the shared control plane already (other tests apply
    // api/crds): the install adopts them (--take-ownership) and keeps them.
    await installCrds();
    for (const file of await foreignCrdFiles()) {
      const applied = await mustKubectl(["apply", "--server-side", "-f", file, "-o", "name"]);
      await mustKubectl(["wait", "--for=condition=Established", "--timeout=60s", applied.trim()]);
    }
    await mustKubectl(["create", "namespace", namespace]);
    // The API server's Pod Security admission warns about each workload
    // whose pods would break the restricted level.
    await mustKubectl([
      "label",
      "namespace",
      namespace,
      "pod-security.kubernetes.io/warn=restricted",
      "pod-security.kubernetes.io/warn-version=latest",
    ]);
  });

  after(async () => {
    await helm(["uninstall", release, ...kube]);
    await kubectl(["delete", "sandboxes.turgon.dev", "--all", "-n", namespace, "--wait=false"]);
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await rm(scratch, { recursive: true, force: true });
  });

  it("passes strict server-side validation with every feature on, monitoring and HTTPRoute included; only the agent is outside restricted Pod Security", async () => {
    const rendered = await renderChart(
      { valuesFiles: [join(CI_DIR, "all-features-values.yaml")] },
      { name: release, namespace },
    );
    const file = join(scratch, "all-features.yaml");
    await writeFile(file, rendered);
    const applied = await kubectl([
      "apply",
      "--dry-run=server",
      "--validate=strict",
      "--server-side",
      "--force-conflicts",
      "-f",
      file,
    ]);
    assert.equal(applied.exitCode, 0, applied.tail);
    const out = applied.stdout;
    // Only the agent, with its hostPath volumes (and, without a KVM device
    // plugin as here, privileged), is outside the restricted Pod Security level.
    const warned = [
      ...applied.tail.matchAll(/would violate PodSecurity "restricted:latest": (.*)/g),
    ];
    assert.equal(warned.length, 1, applied.tail);
    assert.match(warned[0]?.[1] ?? "", /restricted volume type "hostPath"/);
    assert.match(warned[0]?.[1] ?? "", /privileged/);
    for (const object of [
      "customresourcedefinition.apiextensions.k8s.io/sandboxes.turgon.dev",
      "clusterrole.rbac.authorization.k8s.io/turgon-operator",
      "validatingadmissionpolicy.admissionregistration.k8s.io/turgon-node-agent-own-sandboxnode",
      "daemonset.apps/turgon-node-agent",
      "networkpolicy.networking.k8s.io/turgon-node-agent",
      "ingress.networking.k8s.io/turgon-router",
      "poddisruptionbudget.policy/turgon-operator",
      "servicemonitor.monitoring.coreos.com/turgon-node-agent",
      "prometheusrule.monitoring.coreos.com/turgon",
      "httproute.gateway.networking.k8s.io/turgon-router",
    ])
      assert.match(
        out,
        new RegExp(
          `^${object.replaceAll(".", "\\.")} serverside-applied \\(server dry run\\)$`,
          "m",
        ),
      );
  });

  it("installs, with the CRDs, one workload each for the operator, router, agent, web and worker", async () => {
    await mustHelmHere([
      "install",
      release,
      CHART_DIR,
      "--values",
      join(CI_DIR, "minimal-values.yaml"),
      ...SHARED_CLUSTER,
      ...ADOPT_CRDS,
    ]);
    const workloads = await mustKubectl([
      "get",
      "deployments,daemonsets",
      "-n",
      namespace,
      "-o",
      "jsonpath={range .items[*]}{.kind}/{.metadata.name}{'\\n'}{end}",
    ]);
    assert.deepEqual(workloads.trim().split("\n").sort(), [
      "DaemonSet/turgon-node-agent",
      "Deployment/turgon-operator",
      "Deployment/turgon-router",
      "Deployment/turgon-web",
      "Deployment/turgon-worker",
    ]);
    for (const resource of CUSTOM_RESOURCES) {
      const annotation = await mustKubectl([
        "get",
        "crd",
        crdName(resource),
        "-o",
        "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name} {.metadata.annotations.helm\\.sh/resource-policy}",
      ]);
      assert.equal(annotation, `${release} keep`, crdName(resource));
    }
  });

  it("upgrades to a changed value", async () => {
    await mustHelmHere([
      "upgrade",
      release,
      CHART_DIR,
      "--reuse-values",
      "--set",
      "router.replicas=3",
      "--force-conflicts",
    ]);
    const replicas = await mustKubectl([
      "get",
      "deployment",
      "turgon-router",
      "-n",
      namespace,
      "-o",
      "jsonpath={.spec.replicas}",
    ]);
    assert.equal(replicas, "3");
    const history = await mustHelmHere(["history", release, "-o", "json"]);
    assert.deepEqual(
      (JSON.parse(history) as { revision: number; status: string }[]).map((r) => r.status),
      ["superseded", "deployed"],
    );
  });

  it("uninstalls and leaves the CRDs and a Sandbox in place", async () => {
    const sandbox = join(scratch, "sandbox.json");
    await writeFile(
      sandbox,
      JSON.stringify({
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name: "kept", namespace, labels: { "turgon.dev/test": "chart-install" } },
        spec: { templateRef: { name: "python-web" } },
      }),
    );
    await mustKubectl(["create", "-f", sandbox]);
    await mustHelmHere(["uninstall", release]);

    const left = await mustKubectl([
      "get",
      "deployments,daemonsets",
      "-n",
      namespace,
      "-o",
      "name",
    ]);
    assert.equal(left.trim(), "", "the workloads are gone");
    for (const resource of CUSTOM_RESOURCES) await mustKubectl(["get", "crd", crdName(resource)]);
    const kept = await mustKubectl([
      "get",
      "sandbox",
      "kept",
      "-n",
      namespace,
      "-o",
      "jsonpath={.metadata.name}",
    ]);
    assert.equal(kept, "kept");
  });
});
