import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { GROUP, type Sandbox, VERSION } from "@turgon/api/crd";

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/**
 * `resumed`: this call set Running. `changed`: the sandbox was no longer
 * this one suspended (another router replica woke it, its owner changed
 * the mode, or it was deleted and made again): nothing was written.
 */
export type ResumeOutcome = "resumed" | "changed";

/** Sets a suspended Sandbox's `spec.operatingMode` back to Running. */
export interface SandboxResumer {
  resume(sandbox: Sandbox): Promise<ResumeOutcome>;
}

/**
 * The router's one write to the API server: a JSON patch whose `test` ops
 * pin the sandbox's UID and its mode still being Suspended, so concurrent
 * wakes (replicas) and an owner's own change never fight: the API server
 * applies the first and refuses the rest (422), and a recreated sandbox of
 * the same name is never touched. RBAC grants the router `patch` on
 * sandboxes; the chart's ValidatingAdmissionPolicy narrows it to this.
 */
export class KubeSandboxResumer implements SandboxResumer {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async resume(sandbox: Sandbox): Promise<ResumeOutcome> {
    try {
      await this.api.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: "sandboxes",
          namespace: sandbox.metadata.namespace as string,
          name: sandbox.metadata.name as string,
          body: [
            { op: "test", path: "/metadata/uid", value: sandbox.metadata.uid },
            { op: "test", path: "/spec/operatingMode", value: "Suspended" },
            { op: "replace", path: "/spec/operatingMode", value: "Running" },
          ],
        },
        jsonPatch,
      );
      return "resumed";
    } catch (error) {
      // A failed test op is 422 (Unprocessable Entity); a sandbox gone is 404.
      const code = (error as { code?: number }).code;
      if (code === 422 || code === 404 || code === 409) return "changed";
      throw error;
    }
  }
}
