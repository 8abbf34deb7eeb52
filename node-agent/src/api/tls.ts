import { constants } from "node:crypto";
import { unwatchFile, watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContextOptions, type TlsOptions } from "node:tls";
import type { Logger } from "../logger.ts";

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
 * still reach /healthz; each route then decides who may call it. A TLS 1.2
 * client may not renegotiate (Node allows it by default): a connection
 * keeps the certificate of its handshake, which is what the caller of its
 * first request is remembered by (`auth.ts`).
 */
export function tlsServerOptions(tls: AgentTls): TlsOptions & SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/** The files the agent's TLS material is read from (its flags). */
export interface AgentTlsFiles {
  cert: string;
  key: string;
  clientCa: string;
}

/** How often the TLS files are looked at (a Secret volume's update takes about a minute anyway). */
const TLS_WATCH_INTERVAL_MS = 30_000;

/**
 * Watches the TLS files (polling: a Kubernetes Secret volume swaps a `..data`
 * symlink, which inotify on the files does not see) and calls `onChange`
 * with new material once it is whole and usable: a certificate and key that
 * do not match yet (one file rewritten before the other) are skipped until
 * the next change. `current` is what is served now. Returns the unwatch.
 */
export function watchTlsFiles(
  files: AgentTlsFiles,
  current: AgentTls,
  onChange: (tls: AgentTls) => void,
  options: { log: Logger; intervalMs?: number },
): () => void {
  const interval = options.intervalMs ?? TLS_WATCH_INTERVAL_MS;
  let last = JSON.stringify(current);
  let reading = Promise.resolve();
  const reload = async () => {
    let tls: AgentTls;
    try {
      tls = {
        cert: await readFile(files.cert, "utf8"),
        key: await readFile(files.key, "utf8"),
        clientCa: await readFile(files.clientCa, "utf8"),
      };
      createSecureContext(tlsServerOptions(tls));
    } catch (error) {
      options.log.warn(
        { err: (error as Error).message },
        "the TLS files changed but are not usable yet: keeping the current material",
      );
      return;
    }
    const seen = JSON.stringify(tls);
    if (seen === last) return;
    last = seen;
    options.log.info("the TLS files changed: serving the new certificate");
    onChange(tls);
  };
  const changed = () => {
    // A reload that throws (in onChange) is logged and the chain goes on: a
    // rejected chain would skip every later reload, and an unhandled
    // rejection would end the agent.
    reading = reading
      .then(reload)
      .catch((error: unknown) =>
        options.log.error(
          { err: (error as Error).message },
          "applying the new TLS material failed; a later change is tried again",
        ),
      );
  };
  const paths = [files.cert, files.key, files.clientCa];
  for (const path of paths) watchFile(path, { interval, persistent: false }, changed);
  return () => {
    for (const path of paths) unwatchFile(path, changed);
  };
}
