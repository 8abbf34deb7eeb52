import { isDeepStrictEqual } from "node:util";
import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { GROUP, type Sandbox, type SandboxStatus, VERSION } from "@turgon/api/crd";

const target = { group: GROUP, version: VERSION, plural: "sandboxes" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** A write lost a race with another writer: look again with fresh state. */
export class ConflictError extends Error {}

/**
 * What the Sandbox reconciler writes to the API server: status (with
 * optimistic concurrency), its finalizer, and the deletion of a sandbox at
 * the end of its life. A lost race is a ConflictError.
 */
export class SandboxWrites {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  /** Replaces status, guarded by resourceVersion; an unchanged status is not written. */
  async status(sandbox: Sandbox, status: SandboxStatus): Promise<Sandbox> {
    if (isDeepStrictEqual(sandbox.status ?? {}, status)) return sandbox;
    try {
      return (await this.api.replaceNamespacedCustomObjectStatus({
        ...target,
        namespace: sandbox.metadata.namespace as string,
        name: sandbox.metadata.name as string,
        body: { ...sandbox, status },
      })) as Sandbox;
    } catch (error) {
      if ((error as { code?: number }).code === 409)
        throw new ConflictError("status changed meanwhile");
      throw error;
    }
  }

  /** Merge-patches metadata, guarded by resourceVersion; a sandbox already gone is no error. */
  async metadata(sandbox: Sandbox, metadata: Record<string, unknown>): Promise<void> {
    try {
      await this.api.patchNamespacedCustomObject(
        {
          ...target,
          namespace: sandbox.metadata.namespace as string,
          name: sandbox.metadata.name as string,
          body: { metadata: { ...metadata, resourceVersion: sandbox.metadata.resourceVersion } },
        },
        mergePatch,
      );
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) throw new ConflictError("object changed meanwhile");
      if (code === 404) return;
      throw error;
    }
  }

  /**
   * Sets `spec.operatingMode: Suspended` (idle with wakeOnRequest), guarded
   * by resourceVersion: an edit meanwhile (the router waking it, its owner)
   * wins, and the reconcile looks again.
   */
  async suspend(sandbox: Sandbox): Promise<void> {
    try {
      await this.api.patchNamespacedCustomObject(
        {
          ...target,
          namespace: sandbox.metadata.namespace as string,
          name: sandbox.metadata.name as string,
          body: {
            metadata: { resourceVersion: sandbox.metadata.resourceVersion },
            spec: { operatingMode: "Suspended" },
          },
        },
        mergePatch,
      );
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) throw new ConflictError("object changed meanwhile");
      if (code === 404) return;
      throw error;
    }
  }

  /** Deletes this very sandbox (by UID: never a newer one of the same name). */
  async delete(sandbox: Sandbox): Promise<void> {
    await this.api.deleteNamespacedCustomObject({
      ...target,
      namespace: sandbox.metadata.namespace as string,
      name: sandbox.metadata.name as string,
      body: { preconditions: { uid: sandbox.metadata.uid as string } },
    });
  }
}
