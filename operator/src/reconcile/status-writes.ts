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

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The JSON merge patch (RFC 7386) that turns `from` into `to`: changed and
 * new fields, null for removed ones, objects patched field by field, arrays
 * whole. Undefined when nothing changed.
 */
export function mergePatchOf(from: unknown, to: unknown): Json | undefined {
  if (!isObject(from) || !isObject(to))
    return isDeepStrictEqual(from, to) ? undefined : (structuredClone(to) as Json);
  const patch: Record<string, Json> = {};
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    if (to[key] === undefined) {
      if (from[key] !== undefined) patch[key] = null;
      continue;
    }
    const change = mergePatchOf(from[key], to[key]);
    if (change !== undefined) patch[key] = change;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** A write lost a race with another writer: look again with fresh state. */
export class ConflictError extends Error {}

/** A sandbox this operator wrote: the versions its writes replaced, and those they made. */
interface Written {
  object: Sandbox;
  superseded: Set<string>;
  made: Set<string>;
}

/**
 * What the Sandbox reconciler writes to the API server: status (merge
 * patches with optimistic concurrency), its finalizer, and the deletion of a sandbox at
 * the end of its life. A lost race is a ConflictError.
 *
 * It also remembers what it wrote until the informer cache shows it: status
 * writes no longer come back as reconciles (controller/predicates.ts), so
 * the next reconcile (an agent event, often milliseconds later) may find
 * the cache a version behind, and writing from that would only conflict.
 */
export class SandboxWrites {
  private readonly api: CustomObjectsApi;
  private readonly written = new Map<string, Written>();

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  /**
   * The freshest copy of a cached sandbox: what was last written, while the
   * cache still shows a version that write replaced; else the cached one.
   */
  latest(cached: Sandbox): Sandbox {
    const uid = cached.metadata.uid as string;
    const written = this.written.get(uid);
    if (!written) return cached;
    if (written.superseded.has(cached.metadata.resourceVersion as string)) return written.object;
    // The cache has caught up, or moved past (someone else wrote): it is the truth again.
    this.written.delete(uid);
    return cached;
  }

  /**
   * Whether this version of the sandbox is one this operator wrote: the
   * reconcile that wrote it carried on from it, so its watch event brings
   * nothing new.
   */
  wrote(sandbox: Sandbox): boolean {
    const written = this.written.get(sandbox.metadata.uid as string);
    return written?.made.has(sandbox.metadata.resourceVersion as string) ?? false;
  }

  /** Forgets a sandbox (its finalizer is gone). */
  forget(uid: string): void {
    this.written.delete(uid);
  }

  /**
   * Writes status as a merge patch of what changed, guarded by
   * resourceVersion; an unchanged status is not written. The patch carries
   * only the changed fields, not the whole object with its managed fields
   * as a replace would, which is less for the API server to decode.
   */
  async status(sandbox: Sandbox, status: SandboxStatus): Promise<Sandbox> {
    const changes = mergePatchOf(sandbox.status ?? {}, status);
    if (changes === undefined) return sandbox;
    try {
      const written = (await this.api.patchNamespacedCustomObjectStatus(
        {
          ...target,
          namespace: sandbox.metadata.namespace as string,
          name: sandbox.metadata.name as string,
          body: {
            metadata: { resourceVersion: sandbox.metadata.resourceVersion },
            status: changes,
          },
        },
        mergePatch,
      )) as Sandbox;
      this.remember(sandbox, written);
      return written;
    } catch (error) {
      if ((error as { code?: number }).code === 409)
        throw new ConflictError("status changed meanwhile");
      throw error;
    }
  }

  /**
   * Merge-patches metadata, guarded by resourceVersion, and returns the
   * sandbox as written; undefined when it is already gone.
   */
  async metadata(
    sandbox: Sandbox,
    metadata: Record<string, unknown>,
  ): Promise<Sandbox | undefined> {
    try {
      const written = (await this.api.patchNamespacedCustomObject(
        {
          ...target,
          namespace: sandbox.metadata.namespace as string,
          name: sandbox.metadata.name as string,
          body: { metadata: { ...metadata, resourceVersion: sandbox.metadata.resourceVersion } },
        },
        mergePatch,
      )) as Sandbox;
      this.remember(sandbox, written);
      return written;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) throw new ConflictError("object changed meanwhile");
      if (code === 404) return undefined;
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

  /** Records a write from `before` to `after`; a chain of writes keeps every version it replaced. */
  private remember(before: Sandbox, after: Sandbox): void {
    const uid = before.metadata.uid as string;
    const from = before.metadata.resourceVersion as string;
    const previous = this.written.get(uid);
    const chain =
      previous && previous.object.metadata.resourceVersion === from
        ? previous
        : { superseded: new Set<string>(), made: new Set<string>() };
    chain.superseded.add(from);
    chain.made.add(after.metadata.resourceVersion as string);
    this.written.set(uid, { object: after, superseded: chain.superseded, made: chain.made });
  }
}
