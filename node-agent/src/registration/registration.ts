import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "@turgon/api/crd";
import type { Logger } from "../logger.ts";
import type { Capacity } from "../sandboxes/manager.ts";

export interface RegistrationOptions {
  nodeName: string;
  /** Base URL of the agent API, as the operator should call it. */
  address: string;
  ingressAddress: string;
  /** The ports of the sandboxes' own ingress fronts (none: the agent's port alone serves). */
  frontPorts?: { first: number; last: number };
  /** What the node offers: physical vCPUs, memory and VM slots. */
  capacity: Capacity;
  /** What can be placed on it in all (vCPUs overcommitted); sandboxes placed are not subtracted. */
  allocatable: Capacity;
  accelerator: () => "kvm" | "tcg" | undefined;
  /** Labelled on the SandboxNode, so a simulated node is never mistaken for a real one. */
  runtime: "qemu" | "simulated";
  heartbeatSeconds: number;
  agentVersion: string;
}

export const RUNTIME_LABEL = "turgon.dev/runtime";

const target = { group: GROUP, version: VERSION, plural: "sandboxnodes" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

function quantity(capacity: Capacity) {
  return { cpus: capacity.cpus, memory: `${capacity.memoryMiB}Mi`, vms: capacity.vms };
}

/**
 * Keeps this node's cluster-scoped SandboxNode: created or updated at start,
 * with a heartbeat (status.lastHeartbeatTime, allocatable) every interval.
 * It touches only its own SandboxNode, so RBAC can be scoped to that name.
 */
export class NodeRegistration {
  private readonly api: CustomObjectsApi;
  private readonly options: RegistrationOptions;
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;
  private readonly readySince = new Date().toISOString();

  constructor(kc: KubeConfig, options: RegistrationOptions, log: Logger) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.options = options;
    this.log = log.child({ component: "registration" });
  }

  async start(): Promise<void> {
    await this.upsertSpec();
    await this.heartbeat();
    this.timer = setInterval(() => {
      this.heartbeat().catch((error) => this.log.warn({ err: error }, "heartbeat failed"));
    }, this.options.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async upsertSpec(): Promise<void> {
    const { nodeName, address, ingressAddress, frontPorts } = this.options;
    const spec = {
      address,
      ingressAddress,
      unschedulable: false,
      ...(frontPorts ? { frontPorts } : {}),
    };
    const labels = { [RUNTIME_LABEL]: this.options.runtime };
    try {
      await this.api.createClusterCustomObject({
        ...target,
        body: {
          apiVersion: API_VERSION,
          kind: "SandboxNode",
          metadata: { name: nodeName, labels },
          spec,
        },
      });
      this.log.info({ nodeName }, "registered SandboxNode");
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
      await this.api.patchClusterCustomObject(
        // null removes a range an earlier agent advertised (a merge patch keeps what it does not name).
        {
          ...target,
          name: nodeName,
          body: { metadata: { labels }, spec: { ...spec, frontPorts: frontPorts ?? null } },
        },
        mergePatch,
      );
      this.log.info({ nodeName }, "updated SandboxNode");
    }
  }

  async heartbeat(): Promise<void> {
    const now = new Date().toISOString();
    const accelerator = this.options.accelerator();
    const status = {
      capacity: quantity(this.options.capacity),
      allocatable: quantity(this.options.allocatable),
      lastHeartbeatTime: now,
      agentVersion: this.options.agentVersion,
      ...(accelerator ? { accelerator } : {}),
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "AgentHeartbeat",
          message: "the node agent is serving",
          lastTransitionTime: this.readySince,
        },
      ],
    };
    await this.api.patchClusterCustomObjectStatus(
      { ...target, name: this.options.nodeName, body: { status } },
      mergePatch,
    );
  }
}
