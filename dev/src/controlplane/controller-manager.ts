import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";
import { httpsGet } from "./https.ts";
import { buildClientKubeConfig, writeKubeConfig } from "./kubeconfig.ts";
import { issueClientCertificate, issueServingCertificate, type Pki } from "./pki.ts";

/** The user the API server's bootstrap RBAC binds to `system:kube-controller-manager`. */
export const CONTROLLER_MANAGER_USER = "system:kube-controller-manager";

/**
 * The controllers that need no kubelet, nodes or cloud: deleting a
 * namespace's contents and then the namespace, owner-reference garbage
 * collection, each namespace's `default` ServiceAccount and (legacy) token
 * Secrets, and the `kube-root-ca.crt` ConfigMap. Names as
 * `kube-controller-manager --help` lists them for v1.34.
 */
export const CONTROLLERS = [
  "namespace-controller",
  "garbage-collector-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "root-ca-certificate-publisher-controller",
] as const;

export interface ControllerManagerOptions {
  binary: string;
  dir: string;
  port: number;
  apiServerUrl: string;
  pki: Pki;
}

export function controllerManagerUrl(port: number): string {
  return `https://127.0.0.1:${port}`;
}

/**
 * Writes the controller manager's own kubeconfig (a client certificate for
 * system:kube-controller-manager) and serving certificate, both from the
 * platform's CA, fresh on every start.
 */
async function writeCredentials(options: ControllerManagerOptions) {
  const { pki, dir } = options;
  const client = await issueClientCertificate(pki, CONTROLLER_MANAGER_USER, []);
  const kubeconfig = join(dir, "kubeconfig");
  await writeKubeConfig(
    kubeconfig,
    buildClientKubeConfig({
      server: options.apiServerUrl,
      caPem: await readFile(pki.caCert, "utf8"),
      user: CONTROLLER_MANAGER_USER,
      ...client,
    }),
  );
  const serving = await issueServingCertificate(pki, "kube-controller-manager");
  const cert = join(dir, "serving.crt");
  const key = join(dir, "serving.key");
  await writeFile(cert, serving.cert);
  await writeFile(key, serving.key, { mode: 0o600 });
  return { kubeconfig, cert, key };
}

/**
 * Starts kube-controller-manager with the kubelet-free controllers, on
 * loopback, with leader election off (one instance per platform).
 *
 * Each controller runs as its own service account
 * (`--use-service-account-credentials`), as kubeadm sets it up: the
 * bootstrap role of system:kube-controller-manager itself may only list and
 * watch, so the namespace controller and the garbage collector could delete
 * nothing with it. Their roles (system:controller:namespace-controller, ...)
 * are bound to those service accounts, whose tokens the controller manager
 * requests through the TokenRequest API.
 */
export async function startControllerManager(
  options: ControllerManagerOptions,
): Promise<DaemonRecord> {
  const { pki } = options;
  const credentials = await writeCredentials(options);
  const record = await startDaemon({
    name: "kube-controller-manager",
    executable: options.binary,
    args: [
      `--kubeconfig=${credentials.kubeconfig}`,
      // Delegated authentication and authorization of its own endpoints, through the API server.
      `--authentication-kubeconfig=${credentials.kubeconfig}`,
      `--authorization-kubeconfig=${credentials.kubeconfig}`,
      "--authorization-always-allow-paths=/healthz,/readyz,/livez",
      `--client-ca-file=${pki.caCert}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${options.port}`,
      `--tls-cert-file=${credentials.cert}`,
      `--tls-private-key-file=${credentials.key}`,
      `--controllers=${CONTROLLERS.join(",")}`,
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      "--leader-elect=false",
      "--profiling=false",
      "--v=1",
    ],
    logFile: join(options.dir, "kube-controller-manager.log"),
    pidFile: join(options.dir, "kube-controller-manager.pid"),
  });
  const ca = await readFile(pki.caCert, "utf8");
  await waitUntilReady(
    record,
    "kube-controller-manager /healthz",
    async () =>
      (await httpsGet(`${controllerManagerUrl(options.port)}/healthz`, { ca })).status === 200,
    60_000,
  );
  return record;
}
