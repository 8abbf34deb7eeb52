/**
 * The router's one write on the real API server, as the router's own
 * identity (router/deploy/rbac.yaml, with its ValidatingAdmissionPolicy):
 * Suspended→Running by a JSON patch that tests the old value, once however
 * many race; nothing else may be written by it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { GROUP, type Sandbox, VERSION } from "@turgon/api/crd";
import {
  installCrds,
  kubeConfigAs,
  kubectl,
  testKubeConfig,
  uniqueName,
} from "@turgon/dev/testing";
import { eventually } from "@turgon/operator/testing";
import { KubeSandboxResumer } from "./resumer.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const ROUTER = "system:serviceaccount:turgon-system:turgon-router";
const POLICY_MESSAGE = /may only set a suspended Sandbox's spec.operatingMode to Running/;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

describe("resuming a Sandbox as the router on the real API server", () => {
  const namespace = uniqueName("resume");
  const admin = testKubeConfig().makeApiClient(CustomObjectsApi);
  let routerKc: KubeConfig;
  const target = { group: GROUP, version: VERSION, plural: "sandboxes", namespace };
  const must = async (args: string[]) => {
    const result = await kubectl(args);
    assert.equal(result.exitCode, 0, `kubectl ${args.join(" ")}: ${result.tail}`);
  };
  const make = async (name: string, operatingMode: "Running" | "Suspended") =>
    (await admin.createNamespacedCustomObject({
      ...target,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "Sandbox",
        metadata: { name },
        spec: { image: "debian-python:latest", operatingMode, lifecycle: { wakeOnRequest: true } },
      },
    })) as Sandbox;
  const read = async (name: string) =>
    (await admin.getNamespacedCustomObject({ ...target, name })) as Sandbox;
  /** The API server's answer to the router merge-patching `body` into `name`: its code, 200 when taken. */
  const routerMergePatch = async (name: string, body: Record<string, unknown>) => {
    const api = routerKc.makeApiClient(CustomObjectsApi);
    try {
      await api.patchNamespacedCustomObject({ ...target, name, body }, mergePatch);
      return { code: 200, message: "" };
    } catch (error) {
      return {
        code: (error as { code?: number }).code ?? 0,
        message: String((error as { body?: unknown }).body),
      };
    }
  };

  before(async () => {
    await installCrds();
    // The operator's makes the namespace turgon-system, where the router's ServiceAccount lives.
    await must(["apply", "-f", `${ROOT}operator/deploy/rbac.yaml`]);
    await must(["apply", "-f", `${ROOT}router/deploy/rbac.yaml`]);
    await must(["create", "namespace", namespace]);
    routerKc = await kubeConfigAs(ROUTER, [
      "system:serviceaccounts",
      "system:serviceaccounts:turgon-system",
    ]);
    // The policy is enforced once the API server has observed it and its binding.
    await make("probe", "Suspended");
    await eventually(
      "the router's ValidatingAdmissionPolicy in force",
      () => routerMergePatch("probe", { metadata: { labels: { probe: "x" } } }),
      (answer) => answer.code === 403 && POLICY_MESSAGE.test(answer.message),
      30_000,
    );
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  });

  it("sets Running once when five resumes race; a sandbox recreated under the same name, or not suspended, is left alone", async () => {
    const sandbox = await make("raced", "Suspended");
    const resumer = new KubeSandboxResumer(routerKc);
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => resumer.resume(sandbox)));
    assert.deepEqual(outcomes.sort(), ["changed", "changed", "changed", "changed", "resumed"]);
    assert.equal((await read("raced")).spec.operatingMode, "Running");

    const running = await make("running", "Running");
    assert.equal(await resumer.resume(running), "changed");
    assert.equal((await read("running")).spec.operatingMode, "Running");

    const old = await make("again", "Suspended");
    await admin.deleteNamespacedCustomObject({ ...target, name: "again" });
    await make("again", "Suspended");
    assert.equal(await resumer.resume(old), "changed", "another uid");
    assert.equal((await read("again")).spec.operatingMode, "Suspended");
    assert.equal(
      await resumer.resume({ ...old, metadata: { ...old.metadata, name: "gone" } }),
      "changed",
    );
  });

  it("the ValidatingAdmissionPolicy refuses any other write by the router, which RBAC's patch would allow", async () => {
    await make("guarded", "Suspended");
    const refusals = {
      image: await routerMergePatch("guarded", { spec: { image: "evil:latest" } }),
      modeAndImage: await routerMergePatch("guarded", {
        spec: { operatingMode: "Running", image: "evil:latest" },
      }),
      label: await routerMergePatch("guarded", {
        metadata: { labels: { "turgon.dev/team": "x" } },
      }),
      finalizer: await routerMergePatch("guarded", { metadata: { finalizers: ["x/y"] } }),
      ingress: await routerMergePatch("guarded", {
        spec: { operatingMode: "Running", ingress: { enabled: true, access: "public" } },
      }),
    };
    for (const [what, answer] of Object.entries(refusals)) {
      assert.equal(answer.code, 403, `${what}: ${answer.message}`);
      assert.match(
        answer.message,
        /may only set a suspended Sandbox's spec.operatingMode to Running/,
      );
    }
    const unchanged = await read("guarded");
    assert.equal(unchanged.spec.image, "debian-python:latest");
    assert.equal(unchanged.spec.operatingMode, "Suspended");
    // The one write it may make, by merge patch too; and never back.
    const woken = await routerMergePatch("guarded", { spec: { operatingMode: "Running" } });
    assert.equal(woken.code, 200, woken.message);
    const back = await routerMergePatch("guarded", { spec: { operatingMode: "Suspended" } });
    assert.equal(back.code, 403, back.message);
  });

  it("the policy lets the router wake only a sandbox that asks for it: its own lifecycle.wakeOnRequest, else its template's as the operator mirrored it", async () => {
    const made = async (name: string, spec: Record<string, unknown>) =>
      await admin.createNamespacedCustomObject({
        ...target,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "Sandbox",
          metadata: { name },
          spec: { operatingMode: "Suspended", ...spec },
        },
      });
    const wake = (name: string) => routerMergePatch(name, { spec: { operatingMode: "Running" } });
    // Suspended by its owner (or an admin) with no wakeOnRequest: a router's token must not resume it.
    await made("no-wake", { image: "debian-python:latest" });
    await made("wake-off", { image: "debian-python:latest", lifecycle: { wakeOnRequest: false } });
    await made("wake-off-over-template", {
      templateRef: { name: "tpl" },
      lifecycle: { wakeOnRequest: false },
    });
    await made("from-template", { templateRef: { name: "tpl" } });
    await made("template-without", { templateRef: { name: "tpl" } });
    for (const name of ["from-template", "wake-off-over-template"])
      await admin.patchNamespacedCustomObjectStatus(
        { ...target, name, body: { status: { ingress: { wakeOnRequest: true } } } },
        mergePatch,
      );
    for (const name of ["no-wake", "wake-off", "wake-off-over-template", "template-without"]) {
      const answer = await wake(name);
      assert.equal(answer.code, 403, `${name}: ${answer.message}`);
      assert.match(answer.message, POLICY_MESSAGE);
      assert.equal((await read(name)).spec.operatingMode, "Suspended", name);
    }
    const woken = await wake("from-template");
    assert.equal(woken.code, 200, woken.message);
    assert.equal((await read("from-template")).spec.operatingMode, "Running");
  });
});
