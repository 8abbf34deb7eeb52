import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { testEnvironment, testKubeConfig } from "@turgon/dev/testing";
import { loadKubeConfig } from "./config.ts";
import { KubeConfigError } from "./errors.ts";
import { eventually, installWebRbac } from "./testing.ts";

const MOUNT = "var/run/secrets/kubernetes.io/serviceaccount";

describe("the dashboard's KubeConfig", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-web-config-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("comes from KUBECONFIG when set", async () => {
    const { kubeconfig, apiServerUrl } = testEnvironment();
    const kc = loadKubeConfig({ env: { KUBECONFIG: kubeconfig } });
    assert.equal(kc.getCurrentCluster()?.server, apiServerUrl);
    await kc.makeApiClient(CoreV1Api).listNamespace();
  });

  it("says which KUBECONFIG file is missing, and never falls back to ~/.kube/config or localhost", () => {
    assert.throws(
      () => loadKubeConfig({ env: { KUBECONFIG: join(dir, "nope") } }),
      (error: unknown) =>
        error instanceof KubeConfigError &&
        error.message.startsWith(`KUBECONFIG ${join(dir, "nope")} cannot be read`),
    );
    assert.throws(
      () => loadKubeConfig({ env: { HOME: dir }, inClusterPathPrefix: dir }),
      (error: unknown) =>
        error instanceof KubeConfigError &&
        /KUBECONFIG is not set/.test(error.message) &&
        /set KUBECONFIG to a kubeconfig file, or run in the cluster as its ServiceAccount \(turgon-system\/turgon-web\)/.test(
          error.message,
        ),
    );
  });

  it("comes from the pod's ServiceAccount in the cluster, and works as turgon-web", async () => {
    await installWebRbac();
    // What the kubelet mounts for a pod of turgon-system/turgon-web: a token, the CA, the namespace.
    const answer = await testKubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccountToken({
        name: "turgon-web",
        namespace: "turgon-system",
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
    const mount = join(dir, MOUNT);
    await mkdir(mount, { recursive: true });
    await writeFile(join(mount, "token"), answer.status?.token ?? "");
    const ca = testKubeConfig().getCurrentCluster()?.caData;
    assert.ok(ca);
    await writeFile(join(mount, "ca.crt"), Buffer.from(ca, "base64"));
    await writeFile(join(mount, "namespace"), "turgon-system");
    const url = new URL(testEnvironment().apiServerUrl);
    const kc = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
      inClusterPathPrefix: `${dir}/`,
    });
    assert.equal(kc.getCurrentCluster()?.server, `https://${url.hostname}:${url.port}`);
    // The dashboard's identity may list namespaces (once RBAC has seen its new binding), not read one.
    await eventually(
      "turgon-web lists namespaces",
      () =>
        kc
          .makeApiClient(CoreV1Api)
          .listNamespace()
          .then(
            () => true,
            () => false,
          ),
      (listed) => listed,
    );
    await assert.rejects(
      kc.makeApiClient(CoreV1Api).readNamespace({ name: "turgon-system" }),
      (error: { code?: number }) => error.code === 403,
    );
  });
});
