import { AddressRules } from "../egress/addresses.ts";
import type { NodeVmSettings } from "../supervisor/config.ts";
import { type SandboxRuntime, VmLauncher } from "../vm/launcher.ts";
import type { SandboxContext } from "./sandbox.ts";

/**
 * The part of a sandbox's context that comes from the node's VM settings:
 * its runtime (a QEMU launcher unless given, e.g. the simulated one), its
 * egress floor and resolvers. Built where the VMs live: in each supervisor,
 * or in the agent for in-process sandboxes.
 */
export function nodeVmContext(
  vm: NodeVmSettings,
  runtime?: SandboxRuntime,
): Pick<SandboxContext, "runtime" | "nodeName" | "ingressHeaderTimeoutMs" | "egress"> {
  return {
    runtime:
      runtime ??
      new VmLauncher({
        accelerator: vm.accelerator,
        tcgTranslationCacheMiB: vm.tcgTranslationCacheMiB,
        ...(vm.freePageReporting === undefined ? {} : { freePageReporting: vm.freePageReporting }),
        ...(vm.imageStore ? { imageStore: vm.imageStore } : {}),
      }),
    nodeName: vm.nodeName,
    ingressHeaderTimeoutMs: vm.ingressHeaderTimeoutMs,
    egress: {
      addresses: new AddressRules({ platformCidrs: vm.platformCidrs }),
      ...(vm.dnsTrustedServers ? { dnsTrustedServers: vm.dnsTrustedServers } : {}),
    },
  };
}
