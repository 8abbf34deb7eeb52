import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";
import { httpsGet } from "./https.ts";
import type { Pki } from "./pki.ts";

export interface ApiServerOptions {
  binary: string;
  dir: string;
  port: number;
  etcdUrl: string;
  pki: Pki;
}

export function apiServerUrl(port: number): string {
  return `https://127.0.0.1:${port}`;
}

/**
 * Starts kube-apiserver the way controller-runtime's envtest does: loopback
 * only, client-certificate auth against our CA, RBAC, service-account keys.
 * Anonymous requests are refused outright.
 */
export async function startApiServer(options: ApiServerOptions): Promise<DaemonRecord> {
  const { pki } = options;
  const url = apiServerUrl(options.port);
  const record = await startDaemon({
    name: "kube-apiserver",
    executable: options.binary,
    args: [
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${options.port}`,
      `--etcd-servers=${options.etcdUrl}`,
      `--cert-dir=${join(options.dir, "certs")}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--anonymous-auth=false",
      "--authorization-mode=RBAC",
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      // No kubelet runs, so pods never do; this plugin would only refuse
      // pods made before the service-account controller has given their
      // namespace its `default` ServiceAccount.
      "--disable-admission-plugins=ServiceAccount",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      "--v=1",
    ],
    logFile: join(options.dir, "kube-apiserver.log"),
    pidFile: join(options.dir, "kube-apiserver.pid"),
  });
  const tls = {
    ca: await readFile(pki.caCert, "utf8"),
    cert: await readFile(pki.adminCert, "utf8"),
    key: await readFile(pki.adminKey, "utf8"),
  };
  await waitUntilReady(
    record,
    "kube-apiserver /readyz",
    async () => (await httpsGet(`${url}/readyz`, tls)).status === 200,
    120_000,
  );
  return record;
}
