import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { objectKey } from "@turgon/toolkit/kube";

/** What of an object a reconcile acts on: everything but its status (and bookkeeping). */
function relevant(object: KubernetesObject) {
  const { uid, generation, labels, annotations, finalizers, deletionTimestamp } =
    object.metadata ?? {};
  return { uid, generation, labels, annotations, finalizers, deletionTimestamp };
}

/**
 * Tells which informer updates are worth a reconcile, as controller-runtime's
 * GenerationChangedPredicate with labels, annotations, finalizers and
 * deletion added: an update that moved only status (the operator's own
 * writes), resourceVersion or managedFields is dropped. Without it every
 * status write comes back as one more reconcile that finds nothing to do.
 *
 * Only the operator writes a Sandbox's status, and what else should
 * reconcile a sandbox (its agent's events, its node, policies, templates,
 * Secrets, the resync) arrives by other paths, untouched by this filter.
 * The informer's update event carries only the new object, so the last
 * relevant state of each object is kept here.
 */
export class SpecChangeFilter {
  private readonly seen = new Map<string, ReturnType<typeof relevant>>();

  /** An object listed or added: remembered; always worth a reconcile. */
  added(object: KubernetesObject): true {
    this.seen.set(objectKey(object), relevant(object));
    return true;
  }

  /** Whether an update changed anything but status; remembers what it saw. */
  updated(object: KubernetesObject): boolean {
    const key = objectKey(object);
    const now = relevant(object);
    const before = this.seen.get(key);
    this.seen.set(key, now);
    return before === undefined || !isDeepStrictEqual(before, now);
  }

  /** An object deleted: forgotten; always worth a reconcile (its finalizer). */
  deleted(object: KubernetesObject): true {
    this.seen.delete(objectKey(object));
    return true;
  }
}
