import { setTimeout as sleep } from "node:timers/promises";
import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";

/**
 * Lease times are metav1.MicroTime, which the API server parses with six
 * fractional digits; client-node sends Date.toISOString()'s three.
 */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
  }
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** This replica's identity (pod name, or host and pid). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it:
 * a replica takes the lease when it is free or expired, renews it every
 * retry period, and gives up leadership when it cannot renew within the
 * renew deadline. Writes use the lease's resourceVersion, so two replicas
 * can never both win. Defaults: lease 15 s, renew deadline 10 s, retry 2 s.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly options: Required<LeaderElectionOptions>;
  private leading = false;
  private running = false;
  private loop?: Promise<void>;

  constructor(kc: KubeConfig, options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Stops; a leader releases the lease so another replica can take over at once. */
  async stop(release = true): Promise<void> {
    this.running = false;
    await this.loop;
    if (this.leading && release) {
      await this.tryUpdate((lease) => ({
        ...lease,
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 },
      })).catch(() => false);
    }
    this.setLeading(false);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async run(): Promise<void> {
    let lastRenew = 0;
    while (this.running) {
      const ok = await this.acquireOrRenew().catch(() => false);
      if (ok) {
        lastRenew = Date.now();
        this.setLeading(true);
      } else if (this.leading && Date.now() - lastRenew > this.options.renewDeadlineMs) {
        this.setLeading(false);
      }
      await sleep(this.options.retryPeriodMs);
    }
  }

  private now(): Date {
    return new MicroTime();
  }

  private desired(lease: V1Lease | undefined, transitions: number): V1Lease {
    const now = this.now();
    const held = lease?.spec?.holderIdentity === this.options.identity;
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: this.options.name,
        namespace: this.options.namespace,
        ...(lease?.metadata?.resourceVersion
          ? { resourceVersion: lease.metadata.resourceVersion }
          : {}),
      },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
        acquireTime: held && lease?.spec?.acquireTime ? lease.spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: held ? transitions : transitions + 1,
      },
    };
  }

  /** True when this replica holds the lease after the call. */
  private async acquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
      await this.api.createNamespacedLease({ namespace, body: this.desired(undefined, -1) });
      return true;
    }
    const spec = lease.spec ?? {};
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? 0) * 1000 < Date.now();
    if (spec.holderIdentity && spec.holderIdentity !== identity && !expired) return false;
    return this.tryUpdate(
      (current) => this.desired(current, current.spec?.leaseTransitions ?? 0),
      lease,
    );
  }

  /** Replaces the lease with optimistic concurrency; a conflict means someone else won. */
  private async tryUpdate(
    change: (lease: V1Lease) => V1Lease,
    current?: V1Lease,
  ): Promise<boolean> {
    const { namespace, name } = this.options;
    const lease = current ?? (await this.api.readNamespacedLease({ name, namespace }));
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: change(lease) });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 409) return false;
      throw error;
    }
  }
}
