import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../flags.ts";
import { KubeConfigError, loadKubeConfig, SERVICE_ACCOUNT_TOKEN } from "./kubeconfig.ts";

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

describe("loadKubeConfig", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-kubeconfig-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const refused = (run: () => unknown, pattern: RegExp) =>
    assert.throws(run, (error: unknown) => {
      assert.ok(error instanceof KubeConfigError);
      assert.ok(error instanceof ConfigError, "a configuration error: exit 2");
      assert.match(error.message, pattern);
      return true;
    });

  it("loads --kubeconfig/KUBECONFIG", async () => {
    const file = join(dir, "ok.kubeconfig");
    await writeFile(file, KUBECONFIG);
    assert.equal(
      loadKubeConfig({ file, env: {} }).getCurrentCluster()?.server,
      "https://127.0.0.1:6443",
    );
  });

  it("refuses an unreadable file, naming it", () => {
    const file = join(dir, "missing.kubeconfig");
    refused(
      () => loadKubeConfig({ file, env: {} }),
      new RegExp(`^--kubeconfig \\(KUBECONFIG\\) ${file} cannot be read: ENOENT`),
    );
  });

  it("refuses a file that is not a kubeconfig, or has no current cluster, naming it", async () => {
    const garbage = join(dir, "garbage.kubeconfig");
    await writeFile(garbage, "{ not yaml: [");
    refused(
      () => loadKubeConfig({ file: garbage, env: {} }),
      /garbage\.kubeconfig is not a valid kubeconfig/,
    );
    const empty = join(dir, "empty.kubeconfig");
    await writeFile(empty, "apiVersion: v1\nkind: Config\n");
    refused(
      () => loadKubeConfig({ file: empty, env: {} }),
      /empty\.kubeconfig has no current context/,
    );
  });

  it("outside a pod with no kubeconfig, says what to set instead of https://undefined:undefined", () => {
    refused(
      () =>
        loadKubeConfig({
          env: {},
          inClusterPathPrefix: dir,
          serviceAccount: "turgon-system/turgon-operator",
        }),
      /no Kubernetes configuration: .*set --kubeconfig or KUBECONFIG to a kubeconfig file, or run in the cluster as its ServiceAccount \(turgon-system\/turgon-operator\)/,
    );
    // A token without the service variables is not a pod either.
    refused(
      () =>
        loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: "10.0.0.1" }, inClusterPathPrefix: dir }),
      /no Kubernetes configuration/,
    );
  });

  it("in a pod, uses its ServiceAccount", async () => {
    const tokenDir = join(dir, SERVICE_ACCOUNT_TOKEN, "..");
    await mkdir(tokenDir, { recursive: true });
    await writeFile(join(dir, SERVICE_ACCOUNT_TOKEN), "token");
    await writeFile(join(tokenDir, "ca.crt"), "");
    const kc = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      inClusterPathPrefix: dir,
    });
    assert.equal(kc.getCurrentCluster()?.server, "https://10.0.0.1:443");
    assert.equal(process.env.KUBERNETES_SERVICE_HOST, undefined, "process.env is left as it was");
  });
});
