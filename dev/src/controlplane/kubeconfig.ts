import { readFile, writeFile } from "node:fs/promises";
import { KubeConfig } from "@kubernetes/client-node";
import type { Pki } from "./pki.ts";

export const CLUSTER_NAME = "turgon-local";

/** Builds an admin kubeconfig with the certificates embedded, like envtest does. */
export async function buildKubeConfig(server: string, pki: Pki): Promise<KubeConfig> {
  const base64 = async (path: string) => Buffer.from(await readFile(path)).toString("base64");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: CLUSTER_NAME, server, caData: await base64(pki.caCert), skipTLSVerify: false },
    ],
    users: [
      { name: "admin", certData: await base64(pki.adminCert), keyData: await base64(pki.adminKey) },
    ],
    contexts: [{ name: CLUSTER_NAME, cluster: CLUSTER_NAME, user: "admin", namespace: "default" }],
    currentContext: CLUSTER_NAME,
  });
  return kc;
}

export async function writeKubeConfig(path: string, kc: KubeConfig): Promise<void> {
  // exportConfig() is JSON, which kubectl reads as YAML.
  await writeFile(path, `${kc.exportConfig()}\n`, { mode: 0o600 });
}

/** A kubeconfig for `user` with a client certificate issued by the platform's CA. */
export function buildClientKubeConfig(options: {
  server: string;
  caPem: string;
  user: string;
  cert: string;
  key: string;
}): KubeConfig {
  const b64 = (text: string) => Buffer.from(text).toString("base64");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: CLUSTER_NAME, server: options.server, caData: b64(options.caPem) }],
    users: [{ name: options.user, certData: b64(options.cert), keyData: b64(options.key) }],
    contexts: [{ name: CLUSTER_NAME, cluster: CLUSTER_NAME, user: options.user }],
    currentContext: CLUSTER_NAME,
  });
  return kc;
}
