/**
 * What a stack needs in the cluster before its daemons start, done one way
 * for `npm run up` and the tests' stacks: the CRDs and RBAC, the ingress
 * token key, the edge ConfigMap, the SSH gateway's users, and each
 * component's kubeconfig for its own identity.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { CRD_DIR } from "@turgon/api/generate";
import { SSH_USERS_SECRET, type SshUsersFile } from "@turgon/api/routing";
import { EDGE_CONFIG, type EdgeFacts, edgeConfigData } from "@turgon/api/routing/edge";
import { DevError } from "@turgon/toolkit/errors";
import { type RunResult, run } from "@turgon/toolkit/run";
import { buildClientKubeConfig } from "../controlplane/kubeconfig.ts";
import { issueClientCertificate, pkiPaths } from "../controlplane/pki.ts";
import type { EnvironmentInfo } from "../environment/index.ts";
import { repoRoot } from "../paths.ts";

/** The cluster a stack runs on: its API server, admin kubectl and CA. */
export type Cluster = Pick<EnvironmentInfo, "stateDir" | "apiServerUrl" | "kubeconfig" | "kubectl">;

/** Runs the cluster's kubectl as its admin; a non-zero exit is the caller's to judge. */
export function kubectlOn(cluster: Cluster, args: string[]): Promise<RunResult> {
  return run(cluster.kubectl, args, { env: { ...process.env, KUBECONFIG: cluster.kubeconfig } });
}

/** Runs kubectl and fails, with its output, unless it succeeds. */
export async function mustKubectl(cluster: Cluster, args: string[]): Promise<RunResult> {
  const result = await kubectlOn(cluster, args);
  if (result.exitCode !== 0) throw new DevError(`kubectl ${args.join(" ")} failed`, result.tail);
  return result;
}

/** Turgon's CRDs from api/crds, applied as users do, once they are Established. */
export async function installCrds(cluster: Cluster): Promise<void> {
  await mustKubectl(cluster, ["apply", "--server-side", "--force-conflicts", "-f", CRD_DIR]);
  await mustKubectl(cluster, [
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "-f",
    CRD_DIR,
  ]);
}

/** Applies RBAC manifests (paths relative to the checkout). */
export async function applyManifests(cluster: Cluster, manifests: string[]): Promise<void> {
  await mustKubectl(cluster, ["apply", ...manifests.flatMap((m) => ["-f", join(repoRoot, m)])]);
}

const INGRESS_KEYS = "turgon-ingress-keys";

/**
 * The key ingress tokens are signed with (HS256), in the Secret the router
 * reads: made once, then kept. Whoever comes second (another `up`, a stack
 * of another test file at the same time) takes the key that is there:
 * replacing it would leave routers, which re-read it every 30 s, and
 * dashboards verifying with different keys.
 */
export async function ensureIngressKey(cluster: Cluster): Promise<string> {
  const proposed = randomBytes(32).toString("hex");
  const created = await kubectlOn(cluster, [
    "create",
    "secret",
    "generic",
    INGRESS_KEYS,
    "-n",
    "turgon-system",
    `--from-literal=current=${proposed}`,
  ]);
  if (created.exitCode === 0) return proposed;
  if (!/already exists/i.test(created.tail))
    throw new DevError(`kubectl create secret ${INGRESS_KEYS} failed`, created.tail);
  const current = await mustKubectl(cluster, [
    "get",
    "secret",
    INGRESS_KEYS,
    "-n",
    "turgon-system",
    "-o",
    "jsonpath={.data.current}",
  ]);
  if (!current.stdout) throw new DevError(`${INGRESS_KEYS} has no key "current"`, current.tail);
  return Buffer.from(current.stdout, "base64").toString("utf8");
}

/**
 * The edge's public facts in the ConfigMap `ref` (namespace/name) that the
 * operator and the router read. The manifest is kept in `dir`, as applied.
 */
export async function applyEdgeConfig(
  cluster: Cluster,
  ref: string,
  facts: EdgeFacts,
  dir: string,
): Promise<void> {
  const [namespace, name] = ref.split("/") as [string, string];
  const path = join(dir, `${name}.configmap.json`);
  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data: edgeConfigData(facts),
  };
  await writeFile(path, `${JSON.stringify(configMap, null, 2)}\n`);
  await mustKubectl(cluster, ["apply", "-f", path]);
}

/**
 * Lets the operator (get, list, watch) and the router (get) read the edge
 * ConfigMap `ref` when it is not turgon-edge, which deploy/rbac.yaml grants:
 * RBAC names ConfigMaps one by one (each test stack has its own).
 */
export async function grantEdgeConfig(cluster: Cluster, ref: string, dir: string): Promise<void> {
  if (ref === EDGE_CONFIG) return;
  const [namespace, name] = ref.split("/") as [string, string];
  const grant = (user: "turgon-operator" | "turgon-router", verbs: string[]) => [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: `${user}-${name}`, namespace },
      rules: [{ apiGroups: [""], resources: ["configmaps"], resourceNames: [name], verbs }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${user}-${name}`, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${user}-${name}` },
      subjects: [{ kind: "ServiceAccount", name: user, namespace: "turgon-system" }],
    },
  ];
  const items = [
    ...grant("turgon-operator", ["get", "list", "watch"]),
    ...grant("turgon-router", ["get"]),
  ];
  await writeFile(
    edgeRbacFile(dir, name),
    JSON.stringify({ apiVersion: "v1", kind: "List", items }),
  );
  await mustKubectl(cluster, ["apply", "-f", edgeRbacFile(dir, name)]);
}

function edgeRbacFile(dir: string, name: string): string {
  return join(dir, `${name}.rbac.json`);
}

/** Deletes the edge ConfigMap `ref` and the grant to read it (a test stack's own). */
export async function removeEdgeConfig(cluster: Cluster, ref: string, dir: string): Promise<void> {
  const [namespace, name] = ref.split("/") as [string, string];
  if (ref !== EDGE_CONFIG)
    await kubectlOn(cluster, ["delete", "-f", edgeRbacFile(dir, name), "--ignore-not-found"]);
  await kubectlOn(cluster, ["delete", "configmap", name, "-n", namespace, "--ignore-not-found"]);
}

/**
 * Sets (or, with undefined, removes) one data key of the SSH users Secret
 * the router follows. Each writer has its own key (`npm run up` its
 * `local.json`, the dashboard `users.json`, a test stack its run's), and a
 * JSON merge patch of that one key leaves the others alone.
 */
export async function setSshUsers(
  cluster: Cluster,
  key: string,
  users: SshUsersFile | undefined,
): Promise<void> {
  const created = await kubectlOn(cluster, [
    "create",
    "secret",
    "generic",
    SSH_USERS_SECRET,
    "-n",
    "turgon-system",
  ]);
  if (created.exitCode !== 0 && !/already exists/i.test(created.tail))
    throw new DevError(`kubectl create secret ${SSH_USERS_SECRET} failed`, created.tail);
  const value = users
    ? Buffer.from(`${JSON.stringify(users, null, 2)}\n`).toString("base64")
    : null;
  await mustKubectl(cluster, [
    "patch",
    "secret",
    SSH_USERS_SECRET,
    "-n",
    "turgon-system",
    "--type",
    "merge",
    "-p",
    JSON.stringify({ data: { [key]: value } }),
  ]);
}

/**
 * A KubeConfig for the cluster that authenticates as `user` in `groups`:
 * a client certificate from the cluster's CA, as a component is deployed
 * with its own identity.
 */
export async function kubeConfigAs(
  cluster: Cluster,
  user: string,
  groups: string[],
): Promise<KubeConfig> {
  const pki = pkiPaths(join(cluster.stateDir, "pki"));
  const { cert, key } = await issueClientCertificate(pki, user, groups);
  const caPem = await readFile(pki.caCert, "utf8");
  return buildClientKubeConfig({ server: cluster.apiServerUrl, caPem, user, cert, key });
}

/** {@link kubeConfigAs}, written to `path` (0600: it holds a private key). */
export async function writeKubeconfigAs(
  cluster: Cluster,
  path: string,
  user: string,
  groups: string[],
): Promise<void> {
  const kc = await kubeConfigAs(cluster, user, groups);
  await writeFile(path, `${kc.exportConfig()}\n`, { mode: 0o600 });
}
