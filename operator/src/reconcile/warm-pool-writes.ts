import { isDeepStrictEqual } from "node:util";
import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { GROUP, type SandboxWarmPool, type SandboxWarmPoolStatus, VERSION } from "@turgon/api/crd";
import { ConflictError } from "./status-writes.ts";

const target = { group: GROUP, version: VERSION, plural: "sandboxwarmpools" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** What the pool controller writes: status and its finalizer, guarded by resourceVersion. */
export class WarmPoolWrites {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  /** Replaces status; an unchanged status is not written. */
  async status(pool: SandboxWarmPool, status: SandboxWarmPoolStatus): Promise<SandboxWarmPool> {
    if (isDeepStrictEqual(pool.status ?? {}, status)) return pool;
    try {
      return (await this.api.replaceNamespacedCustomObjectStatus({
        ...target,
        namespace: pool.metadata.namespace as string,
        name: pool.metadata.name as string,
        body: { ...pool, status },
      })) as SandboxWarmPool;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) throw new ConflictError("pool status changed meanwhile");
      if (code === 404) return pool;
      throw error;
    }
  }

  /** Sets the finalizers; a pool already gone is no error. */
  async finalizers(pool: SandboxWarmPool, finalizers: string[]): Promise<void> {
    try {
      await this.api.patchNamespacedCustomObject(
        {
          ...target,
          namespace: pool.metadata.namespace as string,
          name: pool.metadata.name as string,
          body: { metadata: { finalizers, resourceVersion: pool.metadata.resourceVersion } },
        },
        mergePatch,
      );
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) throw new ConflictError("pool changed meanwhile");
      if (code === 404) return;
      throw error;
    }
  }
}
