/**
 * The chart without a cluster: lint, golden renderings, the values schema,
 * and the generated parts (CRDs, RBAC, README table) matching their sources.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CRD_DIR, driftedCrds } from "@turgon/api/generate";
import { parse, parseAllDocuments } from "yaml";
import { ciValuesFiles, goldenFile, renderGolden } from "./golden.ts";
import { CHART_DIR, helm, renderChart } from "./helm.ts";
import { driftedRbac } from "./rbac.ts";
import { README, readmeWithValuesTable } from "./values-doc.ts";

const REPO_ROOT = join(CHART_DIR, "../..");

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
};

function manifests(rendered: string): Manifest[] {
  return parseAllDocuments(rendered)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

function find(all: Manifest[], kind: string, name: string): Manifest {
  const found = all.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `${kind} ${name} is rendered`);
  return found;
}

// biome-ignore lint/suspicious/noExplicitAny: walking rendered manifests
type Any = any;

describe("the chart", () => {
  it("has one version: Chart.yaml's version and appVersion are charts/package.json's, and the node agent reports it", async () => {
    const chart = parse(await readFile(join(CHART_DIR, "Chart.yaml"), "utf8"));
    const pkg = JSON.parse(await readFile(join(CHART_DIR, "../package.json"), "utf8"));
    assert.equal(chart.apiVersion, "v2", "Helm 3 users can install it too");
    assert.equal(chart.version, pkg.version);
    assert.equal(chart.appVersion, pkg.version);
    // The agent's version (its SandboxNode's agentVersion, and what its supervisors
    // report) is its own package's, so that a changed build can say so.
    const agent = JSON.parse(await readFile(join(REPO_ROOT, "node-agent/package.json"), "utf8"));
    assert.equal(agent.version, pkg.version, "node-agent/package.json's version is the release's");
  });

  it("passes helm lint, with the defaults and with each ci values file", async () => {
    const cases = [[], ...[...(await ciValuesFiles()).values()].map((f) => ["--values", f])];
    assert.equal(cases.length, 4, "three ci values files");
    for (const args of cases) {
      const result = await helm(["lint", "--strict", CHART_DIR, ...args]);
      assert.equal(result.exitCode, 0, `helm lint ${args.join(" ")}:\n${result.tail}`);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it("renders each ci values file as its golden file (`npm run charts:golden` after a change)", async () => {
    const files = await ciValuesFiles();
    assert.deepEqual([...files.keys()], ["all-features", "external-tls", "minimal"]);
    for (const [name, file] of files) {
      const golden = await readFile(goldenFile(name), "utf8").catch(() => "(missing)");
      assert.ok(
        golden === (await renderGolden(file)),
        `charts/src/golden/${name}.yaml differs from helm template -f ci/${name}-values.yaml: run npm run charts:golden and review the diff`,
      );
    }
  });

  it("refuses a value of the wrong type, naming its path", async () => {
    const result = await helm([
      "template",
      "turgon",
      CHART_DIR,
      "--set",
      "operator.replicas=two",
      "--set-string",
      "agent.frontPorts.first=20000",
    ]);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.tail, /values don't meet the specifications of the schema/);
    assert.match(result.tail, /at '\/operator\/replicas': got string, want integer/);
    assert.match(result.tail, /at '\/agent\/frontPorts\/first': got string, want integer/);
  });

  it("refuses an unknown value and a front-port range that runs backwards", async () => {
    const unknown = await helm(["template", "turgon", CHART_DIR, "--set", "router.replica=3"]);
    assert.notEqual(unknown.exitCode, 0);
    assert.match(unknown.tail, /at '\/router': additional properties 'replica' not allowed/);
    const backwards = await helm([
      "template",
      "turgon",
      CHART_DIR,
      "--set",
      "agent.frontPorts.first=21000",
    ]);
    assert.notEqual(backwards.exitCode, 0);
    assert.match(
      backwards.tail,
      /agent\.frontPorts: first \(21000\) must not be above last \(20999\)/,
    );
  });

  it("references images as <registry>/turgon-<component>:<appVersion> by default", async () => {
    const all = manifests(await renderChart());
    const images = all
      .filter((m) => m.kind === "Deployment" || m.kind === "DaemonSet")
      .flatMap((m) => (m.spec as Any).template.spec.containers.map((c: Any) => c.image))
      .sort();
    assert.deepEqual(images, [
      "127.0.0.1:5000/turgon-node-agent:0.1.0",
      "127.0.0.1:5000/turgon-operator:0.1.0",
      "127.0.0.1:5000/turgon-router:0.1.0",
      "127.0.0.1:5000/turgon-web:0.1.0",
      "127.0.0.1:5000/turgon-worker:0.1.0",
    ]);
  });

  it("runs the operator as two replicas with leader election in the release namespace", async () => {
    const all = manifests(await renderChart({}, { name: "turgon", namespace: "tenant-a" }));
    const operator = find(all, "Deployment", "turgon-operator").spec as Any;
    assert.equal(operator.replicas, 2);
    const args: string[] = operator.template.spec.containers[0].args;
    assert.ok(args.includes("--leader-elect=true"));
    assert.ok(args.includes("--lease-namespace=tenant-a"));
    find(all, "PodDisruptionBudget", "turgon-operator");
    const lease = find(all, "Role", "turgon-operator-leader-election") as Any;
    assert.equal(lease.metadata.namespace, "tenant-a");
    assert.deepEqual(lease.rules[0].resources, ["leases"]);
  });

  it("passes the agent its front ports and lets only the router reach them", async () => {
    const all = manifests(await renderChart());
    const agent = find(all, "DaemonSet", "turgon-node-agent").spec as Any;
    const container = agent.template.spec.containers[0];
    assert.ok(container.args.includes("--front-ports=20000-20999"));
    // The agent's memory defaults, spelled out so a values file can change them.
    assert.ok(container.args.includes("--free-page-reporting=true"));
    assert.ok(container.args.includes("--tcg-tb-size-mib=32"));
    assert.equal(agent.updateStrategy.type, "OnDelete", "an agent restart stops its node's VMs");
    assert.equal(container.livenessProbe, undefined, "nothing restarts the agent's container");
    assert.equal(container.securityContext.runAsNonRoot, true);
    assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
    assert.equal(container.resources.limits["devices.kubevirt.io/kvm"], "1");

    const policy = find(all, "NetworkPolicy", "turgon-node-agent").spec as Any;
    const routerOnly = policy.ingress.find((rule: Any) =>
      rule.ports.some((p: Any) => p.endPort !== undefined),
    );
    assert.deepEqual(
      routerOnly.ports.find((p: Any) => p.endPort !== undefined),
      { protocol: "TCP", port: 20000, endPort: 20999 },
    );
    // Below Linux's default ephemeral range (32768-60999), where outgoing sockets take their ports.
    assert.ok(routerOnly.ports.every((p: Any) => (p.endPort ?? p.port) < 32_768));
    assert.equal(routerOnly.from.length, 1);
    assert.equal(
      routerOnly.from[0].podSelector.matchLabels["app.kubernetes.io/component"],
      "router",
    );
    const api = policy.ingress.find((rule: Any) => rule.ports.some((p: Any) => p.port === 7443));
    assert.deepEqual(
      api.from.map((f: Any) => f.podSelector.matchLabels["app.kubernetes.io/component"]).sort(),
      ["operator", "router"],
    );
  });

  it("runs every other container non-root, read-only, with no capabilities", async () => {
    const all = manifests(await renderChart());
    for (const name of ["turgon-operator", "turgon-router", "turgon-web", "turgon-worker"]) {
      const pod = (find(all, "Deployment", name).spec as Any).template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, name);
      for (const c of pod.containers) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, name);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, name);
        assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], name);
      }
    }
  });

  it("keeps the CRDs on uninstall with crds.keep, and renders none without crds.enabled", async () => {
    const kept = manifests(await renderChart()).filter(
      (m) => m.kind === "CustomResourceDefinition",
    );
    assert.equal(kept.length, 5);
    for (const crd of kept)
      assert.equal(crd.metadata.annotations?.["helm.sh/resource-policy"], "keep");
    const notKept = manifests(await renderChart({ set: ["crds.keep=false"] })).filter(
      (m) => m.kind === "CustomResourceDefinition",
    );
    assert.ok(notKept.every((crd) => crd.metadata.annotations === undefined));
    const none = manifests(await renderChart({ set: ["crds.enabled=false"] }));
    assert.equal(none.filter((m) => m.kind === "CustomResourceDefinition").length, 0);
  });

  it("renders the CRDs that api/ generates (`npm run generate:crds` writes both)", async () => {
    assert.deepEqual(await driftedCrds(), []);
    const rendered = manifests(await renderChart()).filter(
      (m) => m.kind === "CustomResourceDefinition",
    );
    for (const crd of rendered) {
      const fromApi = parse(await readFile(join(CRD_DIR, `${crd.metadata.name}.yaml`), "utf8"));
      assert.deepEqual(crd.spec, fromApi.spec, crd.metadata.name);
    }
  });

  it("is the one source of the local platform's RBAC (`npm run generate:rbac` after a change)", async () => {
    assert.deepEqual(await driftedRbac(), []);
  });

  it("alerts on metrics the components really export", async () => {
    const all = manifests(
      await renderChart({ valuesFiles: [join(CHART_DIR, "ci", "all-features-values.yaml")] }),
    );
    const rule = find(all, "PrometheusRule", "turgon").spec as Any;
    const alerts = new Map<string, string>(
      rule.groups[0].rules.map((r: Any) => [r.alert as string, r.expr as string]),
    );
    assert.deepEqual([...alerts.keys()].sort(), [
      "TurgonAgentDown",
      "TurgonAuditBacklog",
      "TurgonReconcileErrors",
      "TurgonRouter5xx",
    ]);
    const exported = [
      await readFile(join(REPO_ROOT, "operator/src/metrics/metrics.ts"), "utf8"),
      await readFile(join(REPO_ROOT, "router/src/metrics.ts"), "utf8"),
      await readFile(join(REPO_ROOT, "node-agent/src/metrics/metrics.ts"), "utf8"),
    ].join("\n");
    for (const [alert, expr] of alerts) {
      for (const metric of expr.match(/\bturgon_[a-z_]+/g) ?? [])
        assert.ok(
          exported.includes(`name: "${metric}"`),
          `${alert} uses ${metric}, which nothing exports`,
        );
    }
    assert.match(alerts.get("TurgonRouter5xx") ?? "", /code="5xx"/);
    assert.match(
      alerts.get("TurgonAuditBacklog") ?? "",
      /turgon_agent_audit_backlog_bytes.* > 16777216$/,
    );
    const monitors = all.filter((m) => m.kind === "ServiceMonitor").map((m) => m.metadata.name);
    assert.deepEqual(monitors.sort(), ["turgon-node-agent", "turgon-operator", "turgon-router"]);
  });

  it("documents every value in the README's table (`npm run charts:readme` after a change)", async () => {
    assert.ok(
      (await readFile(README, "utf8")) === (await readmeWithValuesTable()),
      "charts/turgon/README.md's values table differs from values.yaml",
    );
  });
});
