import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { GoBuildError } from "@turgon/toolkit/errors";
import { run } from "@turgon/toolkit/run";
import { cachedGoBinaries, type GoBinary } from "./go.ts";

/** The Kubernetes release whose kube-apiserver, kube-controller-manager and kubectl we build. */
export const KUBERNETES_VERSION = "v1.34.4";

export interface KubernetesBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
}

/** k8s.io/kubernetes v1.X.Y pins its staging modules (k8s.io/api, ...) at v0.X.Y. */
function stagingVersion(version: string): string {
  return version.replace(/^v1\./, "v0.");
}

/**
 * k8s.io/kubernetes replaces its staging modules with local paths, which a
 * dependent module cannot see; read that list from its go.mod and point each
 * entry at the published module of the same release instead.
 */
async function stagingReplaces(version: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const listed = await run("go", ["list", "-m", "-json", `k8s.io/kubernetes@${version}`], {
    env: { ...env, GOFLAGS: "-mod=mod", GOWORK: "off" },
    cwd: "/",
  });
  if (listed.exitCode !== 0) {
    throw new GoBuildError(
      "resolving k8s.io/kubernetes",
      `go list -m -json k8s.io/kubernetes@${version}`,
      listed.exitCode,
      listed.tail,
      "Check that the Go module proxy is reachable (go env GOPROXY).",
    );
  }
  const goModPath = (JSON.parse(listed.stdout) as { GoMod: string }).GoMod;
  const goMod = await readFile(goModPath, "utf8");
  const modules = [...goMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map(
    (m) => m[1] as string,
  );
  return modules.map((module) => `${module}=${module}@${stagingVersion(version)}`);
}

/**
 * The version stamps Kubernetes' own build sets (hack/lib/version.sh), so
 * `kubectl version` and the server's /version report the real release.
 */
function versionStamps(version: string): Record<string, string> {
  const [major, minor] = version.replace(/^v/, "").split(".");
  const stamps: Record<string, string> = {};
  for (const pkg of ["k8s.io/client-go/pkg/version", "k8s.io/component-base/version"]) {
    stamps[`${pkg}.gitVersion`] = version;
    stamps[`${pkg}.gitMajor`] = major ?? "";
    stamps[`${pkg}.gitMinor`] = minor ?? "";
    stamps[`${pkg}.gitTreeState`] = "clean";
  }
  return stamps;
}

/** Same module, same stamps: one `go build` compiles the packages they share once. */
const BINARIES: GoBinary[] = ["kube-apiserver", "kube-controller-manager", "kubectl"].map(
  (name) => ({
    pkg: `k8s.io/kubernetes/cmd/${name}`,
    name,
    linkerVariables: versionStamps(KUBERNETES_VERSION),
  }),
);

/**
 * Returns kube-apiserver, kube-controller-manager and kubectl, building them
 * once per version (and recipe) into the user cache.
 */
export async function ensureKubernetesBinaries(
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubernetesBinaries> {
  const bin = await cachedGoBinaries(
    {
      name: `kubernetes-${KUBERNETES_VERSION}`,
      title: `building kube-apiserver, kube-controller-manager and kubectl ${KUBERNETES_VERSION} from the Go module proxy (once; cached)`,
      spec: {
        module: "turgon.dev/build/kubernetes",
        goVersion: "1.24",
        requires: BINARIES.map((b) => `${b.pkg}@${KUBERNETES_VERSION}`),
        replaces: [],
      },
      binaries: BINARIES,
      // Read from k8s.io/kubernetes' own go.mod at build time.
      resolveReplaces: () => stagingReplaces(KUBERNETES_VERSION, env),
    },
    env,
  );
  return {
    kubeApiserver: join(bin, "kube-apiserver"),
    kubeControllerManager: join(bin, "kube-controller-manager"),
    kubectl: join(bin, "kubectl"),
  };
}
