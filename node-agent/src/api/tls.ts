import type { SecureContextOptions, TlsOptions } from "node:tls";

/** The agent's TLS material: its serving certificate and the CA its callers' certificates come from. */
export interface AgentTls {
  cert: string;
  key: string;
  /** Signs the operator's and router's client certificates. */
  clientCa: string;
}

/**
 * Server options for the agent's API and ingress ports. A client
 * certificate is asked for but not demanded at the handshake, so probes
 * still reach /healthz; each route then decides who may call it.
 */
export function tlsServerOptions(tls: AgentTls): TlsOptions & SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
  };
}
