import type { KubeConfig, RequestContext } from "@kubernetes/client-node";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/**
 * Makes every API client made from `kc` share one keep-alive connection pool
 * per cluster and user. client-node 2.0 builds a new undici Agent for every
 * request (KubeConfig.applySecurityAuthentication), so no connection is ever
 * reused: each call pays a TCP and mutual-TLS handshake on both ends, and the
 * idle sockets linger until they time out. Under load that, not the API
 * server, bounds the operator's write rate.
 *
 * Credentials in headers (tokens, refreshed per request) are untouched; the
 * pool holds only the TLS material, kept for the process's life as
 * client-node keeps its own WebSocket agents. Returns `kc`, changed in place.
 */
export function shareConnections(kc: KubeConfig): KubeConfig {
  const pools = new Map<string, Dispatcher>();
  const authenticate = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (context: RequestContext) => {
    await authenticate(context);
    const fresh = context.getDispatcher();
    if (!fresh) return;
    const key = JSON.stringify([kc.getCurrentCluster()?.name, kc.getCurrentUser()?.name]);
    const pooled = pools.get(key);
    if (!pooled) {
      pools.set(key, fresh);
      return;
    }
    // The fresh agent never connected: dropping it costs nothing.
    context.setDispatcher(pooled);
  };
  return kc;
}
