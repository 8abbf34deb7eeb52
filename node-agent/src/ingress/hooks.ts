import type { IngressGatewayHooks, IngressHeaderPatch } from "@earendil-works/gondolin";
import type { DesiredSandbox } from "@turgon/api/agent";

/**
 * The sandbox spec's declarative ingress hooks as Gondolin gateway hooks.
 * They read the current desired state on every request, so editing them
 * needs no reboot.
 */
export function ingressHooks(current: () => DesiredSandbox): IngressGatewayHooks {
  return {
    isAllowed: (info) => {
      const path = info.path.split("?")[0] ?? "";
      const denied = current().ingress.hooks?.deniedPathPrefixes ?? [];
      return !denied.some(
        (prefix) =>
          path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`),
      );
    },
    onRequest: () => {
      const hooks = current().ingress.hooks;
      if (!hooks?.setHeaders && !hooks?.removeHeaders) return undefined;
      const headers: IngressHeaderPatch = { ...(hooks.setHeaders ?? {}) };
      for (const name of hooks.removeHeaders ?? []) headers[name.toLowerCase()] = null;
      return { headers };
    },
  };
}
