/** Helpers for this folder's tests against the test platform's real API server. */
import assert from "node:assert/strict";
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP } from "@turgon/api/crd";
import { eventually, installCrds, kubeConfigAs, kubectl } from "@turgon/dev/testing";
import type { ImpersonatedApis } from "./impersonation.ts";

export const WEB_RBAC = new URL("../../../deploy/rbac.yaml", import.meta.url).pathname;
/** The dashboard's own identity, as web/deploy/rbac.yaml binds it. */
export const DASHBOARD_USER = "system:serviceaccount:turgon-system:turgon-web";

/** Runs kubectl as the test platform's admin; fails the test with its output if it fails. */
export async function must(args: string[]): Promise<string> {
  const result = await kubectl(args);
  assert.equal(result.exitCode, 0, `kubectl ${args.join(" ")}: ${result.tail}`);
  return result.stdout;
}

/** CRDs and the dashboard's RBAC, applied as an operator of the cluster would. */
export async function installWebRbac(): Promise<void> {
  await installCrds();
  await must(["apply", "-f", WEB_RBAC]);
}

/** A KubeConfig that authenticates as the dashboard's ServiceAccount (a client certificate). */
export function dashboardKubeConfig(): Promise<KubeConfig> {
  return kubeConfigAs(DASHBOARD_USER, [
    "system:serviceaccounts",
    "system:serviceaccounts:turgon-system",
  ]);
}

/** The one bounded wait of the tests (see @turgon/dev/testing). */
export { eventually };

/** The status of the API server's refusal in `promise`, or fails if it succeeds. */
export async function refusal(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    return (
      (error as { status?: number; code?: number }).status ?? (error as { code?: number }).code
    );
  }
  assert.fail("the API server allowed it");
}

/**
 * Runs an API call, retrying while the API server answers 429: right after
 * CRDs are installed, a resource's storage may still be initializing.
 */
export async function whenServed<T>(call: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const status =
        (error as { status?: number; code?: number }).status ?? (error as { code?: number }).code;
      if (status !== 429 || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Waits until RBAC lets `apis`' user do `verb` on sandboxes in `namespace` (a new RoleBinding is in force). */
export async function untilAllowed(
  apis: ImpersonatedApis,
  namespace: string,
  verb: string,
  allowed = true,
): Promise<void> {
  await eventually(
    `${apis.as.user} ${allowed ? "may" : "may not"} ${verb} sandboxes in ${namespace}`,
    async () =>
      (
        await apis.authorization.createSelfSubjectAccessReview({
          body: {
            spec: {
              resourceAttributes: { group: GROUP, resource: "sandboxes", namespace, verb },
            },
          },
        })
      ).status?.allowed === true,
    (may) => may === allowed,
  );
}
