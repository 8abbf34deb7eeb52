import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { AGENT_CLIENTS } from "@turgon/api/agent";
import {
  createCa,
  importCaKey,
  issue,
  issueServingCertificate,
  pkiPaths,
  x509,
} from "../controlplane/pki.ts";
import type { EnvironmentInfo } from "../environment/index.ts";
import { stopDaemon } from "../process/daemon.ts";
import { freePort } from "../process/ports.ts";
import { redisUrl, startRedis } from "../services/redis.ts";
import {
  installCrds as installCrdsOn,
  kubeConfigAs as kubeConfigOn,
  kubectlOn,
} from "../stack/cluster.ts";

/** Set by the global test setup to the running test platform's environment.json. */
export const TEST_ENVIRONMENT_VARIABLE = "TURGON_TEST_ENVIRONMENT";

/** The platform that the global setup started for this test run. */
export function testEnvironment(): EnvironmentInfo {
  const path = process.env[TEST_ENVIRONMENT_VARIABLE];
  if (!path) {
    throw new Error(
      `${TEST_ENVIRONMENT_VARIABLE} is not set: run tests with \`npm test\` (or \`npm run test:suite\`), whose global setup starts the test platform`,
    );
  }
  return JSON.parse(readFileSync(path, "utf8")) as EnvironmentInfo;
}

/** An admin KubeConfig for the test platform's API server. */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnvironment().kubeconfig);
  return kc;
}

/** A name unique to this test process, for namespaces and other cluster objects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Installs Turgon's CRDs from api/crds with kubectl, as users do, and waits until they are Established. */
export function installCrds(): Promise<void> {
  return installCrdsOn(testEnvironment());
}

/**
 * Creates a namespaced custom object, retrying while a freshly installed
 * CRD's storage warms up (the API server answers 429 for a moment).
 */
export async function createCustomObject(
  objects: CustomObjectsApi,
  target: { group: string; version: string; namespace: string; plural: string },
  body: object,
): ReturnType<CustomObjectsApi["createNamespacedCustomObject"]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await objects.createNamespacedCustomObject({ ...target, body });
    } catch (error) {
      if ((error as { code?: number }).code !== 429 || attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Runs the test platform's kubectl with its kubeconfig. */
export function kubectl(args: string[]) {
  return kubectlOn(testEnvironment(), args);
}

/** A Redis of a test's own, which the test may stop and start (for delivery tests). */
export interface ScratchRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}

export async function startScratchRedis(): Promise<ScratchRedis> {
  const dir = await mkdtemp(join(tmpdir(), "turgon-redis-"));
  const port = await freePort();
  const start = async () => {
    await startRedis({ dir, port, ephemeral: false });
  };
  const stop = async () => {
    await stopDaemon(join(dir, "redis.pid"));
  };
  await start();
  return {
    url: redisUrl(port),
    start,
    stop,
    async remove() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A KubeConfig for the test API server that authenticates as `user` in
 * `groups` (a client certificate from the platform's CA), for testing what
 * a component's own RBAC allows.
 */
export function kubeConfigAs(user: string, groups: string[]): Promise<KubeConfig> {
  return kubeConfigOn(testEnvironment(), user, groups);
}

/** A serving certificate for 127.0.0.1/localhost from the test platform's CA, with the CA to trust it. */
export async function testServingCertificate(
  name: string,
): Promise<{ cert: string; key: string; ca: string }> {
  const pki = pkiPaths(join(testEnvironment().stateDir, "pki"));
  return { ...(await issueServingCertificate(pki, name)), ca: readFileSync(pki.caCert, "utf8") };
}

export { type AgentPkiFiles, ensureAgentPki } from "../controlplane/agent-pki.ts";

/**
 * A client certificate named as the operator's, from a CA that no agent
 * trusts: what an impostor would present.
 */
export async function impostorClientCertificate(): Promise<{ cert: string; key: string }> {
  const other = await createCa("not-the-agent-ca");
  const ca = { cert: new x509.X509Certificate(other.cert), key: await importCaKey(other.key) };
  return issue(ca, `CN=${AGENT_CLIENTS.operator}`, x509.ExtendedKeyUsage.clientAuth);
}

export { eventually, NotWithinError } from "./eventually.ts";
export { type ExternalHost, type ReceivedRequest, startExternalHost } from "./external-host.ts";
