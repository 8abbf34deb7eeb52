/**
 * The CRDs of the APIs the chart can target besides Kubernetes' own:
 * prometheus-operator's ServiceMonitor and PrometheusRule, and Gateway
 * API's HTTPRoute. Their projects publish them inside their Go modules, so
 * they come from the Go module proxy (like kube-apiserver) and stay in Go's
 * module cache; the install test applies them, so the objects the chart
 * renders for them meet their real schemas.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { step } from "@turgon/toolkit/progress";
import { runChecked } from "@turgon/toolkit/run";

interface ModuleCrds {
  module: string;
  version: string;
  /** Paths inside the module. */
  files: string[];
}

export const FOREIGN_CRDS: ModuleCrds[] = [
  {
    module: "github.com/prometheus-operator/prometheus-operator",
    version: "v0.85.0",
    files: [
      "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
      "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ],
  },
  {
    module: "sigs.k8s.io/gateway-api",
    version: "v1.6.3",
    files: ["config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"],
  },
];

/** The CRD files, downloaded into Go's module cache the first time (a few seconds). */
export async function foreignCrdFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const { module, version, files: inside } of FOREIGN_CRDS) {
    const progress = step(`fetching ${module}@${version}'s CRDs from the Go module proxy (cached)`);
    try {
      const out = await runChecked(
        `downloading ${module}@${version}`,
        "go",
        ["mod", "download", "-json", `${module}@${version}`],
        {
          cwd: tmpdir(),
          env: { ...process.env, GOFLAGS: "-mod=mod", GOWORK: "off" },
          hint: "Check that the Go module proxy is reachable (go env GOPROXY).",
        },
      );
      const { Dir } = JSON.parse(out) as { Dir: string };
      files.push(...inside.map((file) => join(Dir, file)));
      progress.done();
    } catch (error) {
      progress.fail();
      throw error;
    }
  }
  return files;
}
