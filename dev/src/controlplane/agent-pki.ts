import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AGENT_CLIENTS, type AgentCaller } from "@turgon/api/agent";
import { fileExists } from "@turgon/toolkit/apt";
import {
  type CertificateAuthority,
  createCa,
  issue,
  LOOPBACK_NAMES,
  loadCaFiles,
  x509,
} from "./pki.ts";

/** A certificate and its key, as files. */
export interface CertificateFiles {
  cert: string;
  key: string;
}

/** The files of the agent plane's PKI under one directory. */
export interface AgentPkiFiles {
  /** The CA both sides trust: agents for client certificates, callers for serving ones. */
  ca: string;
  agent: CertificateFiles;
  operator: CertificateFiles;
  router: CertificateFiles;
}

/**
 * The agent plane's PKI, as kube-apiserver and kubelets have theirs: a CA
 * of its own (not the API server's, so no certificate here is a Kubernetes
 * identity), the agent's serving certificate for loopback, and the
 * operator's and router's client certificates. Made once; kept after.
 */
export async function ensureAgentPki(dir: string, nodeName: string): Promise<AgentPkiFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: AgentPkiFiles = {
    ca: join(dir, "ca.crt"),
    agent: pair(dir, `agent-${nodeName}`),
    operator: pair(dir, "operator"),
    router: pair(dir, "router"),
  };
  const caKey = join(dir, "ca.key");
  if (!(await fileExists(caKey))) {
    const ca = await createCa("turgon-agent-ca");
    await writeFile(files.ca, ca.cert);
    await writeFile(caKey, ca.key, { mode: 0o600 });
  }
  const ca = await loadCaFiles(files.ca, caKey);
  const ensure = async (target: CertificateFiles, make: () => Promise<PemPair>) => {
    if (await fileExists(target.key)) return;
    const made = await make();
    await writeFile(target.cert, made.cert);
    await writeFile(target.key, made.key, { mode: 0o600 });
  };
  await ensure(files.agent, () =>
    issue(ca, `CN=turgon-node-agent:${nodeName}`, x509.ExtendedKeyUsage.serverAuth, [
      LOOPBACK_NAMES,
    ]),
  );
  for (const caller of ["operator", "router"] as const)
    await ensure(files[caller], () => issueAgentClient(ca, caller));
  return files;
}

function pair(dir: string, name: string): CertificateFiles {
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** A certificate and its key, as PEM text. */
type PemPair = { cert: string; key: string };

function issueAgentClient(ca: CertificateAuthority, caller: AgentCaller): Promise<PemPair> {
  return issue(ca, `CN=${AGENT_CLIENTS[caller]}`, x509.ExtendedKeyUsage.clientAuth);
}
