import type { FlagSpec } from "@turgon/toolkit/flags";
import { FlagFileError, readFlagFile } from "@turgon/toolkit/flags";
import { z } from "zod";
import { INGRESS_TICKET_HEADER, signIngressTicket } from "./index.ts";

/**
 * How the operator and the router prove themselves to node agents: a client
 * certificate from the agent plane's CA (named as AGENT_CLIENTS says), with
 * that CA verifying the agents' serving certificates; or, for agents started
 * with `--insecure`, their shared bearer token.
 */
export type AgentCredentials =
  | { mode: "certificate"; ca: string; cert: string; key: string }
  | { mode: "token"; token: string };

/** The flags both the operator and the router take for reaching agents. */
export const AGENT_ACCESS_FLAGS = {
  "agent-ca-file": {
    env: "TURGON_AGENT_CA_FILE",
    description: "CA (PEM) of the agent plane: signs the agents' serving certificates",
  },
  "agent-client-cert-file": {
    env: "TURGON_AGENT_CLIENT_CERT_FILE",
    description: "this component's client certificate (PEM) for the agents",
  },
  "agent-client-key-file": {
    env: "TURGON_AGENT_CLIENT_KEY_FILE",
    description: "the client certificate's private key (PEM)",
  },
  "agent-token-file": {
    env: "TURGON_AGENT_TOKEN_FILE",
    description: "instead of a certificate: the bearer token of agents started with --insecure",
  },
} satisfies Record<string, FlagSpec>;

const file = z.string().min(1).optional();
export const agentAccessSchema = {
  "agent-ca-file": file,
  "agent-client-cert-file": file,
  "agent-client-key-file": file,
  "agent-token-file": file,
};
type AgentAccessConfig = { [K in keyof typeof agentAccessSchema]?: string | undefined };

const CERTIFICATE_FLAGS = ["agent-ca-file", "agent-client-cert-file", "agent-client-key-file"];

/** Exactly one way to reach agents: the three certificate flags, or the token (--insecure agents). */
export function checkAgentAccess(config: AgentAccessConfig, ctx: z.RefinementCtx): void {
  const given = CERTIFICATE_FLAGS.filter((flag) => config[flag as keyof AgentAccessConfig]);
  if (config["agent-token-file"]) {
    if (given.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["agent-token-file"],
        message: `does not go with --${given[0]}: use client certificates, or the token of --insecure agents`,
      });
    return;
  }
  for (const flag of CERTIFICATE_FLAGS)
    if (!config[flag as keyof AgentAccessConfig])
      ctx.addIssue({
        code: "custom",
        path: [flag],
        message:
          "agents are reached with a client certificate: set --agent-ca-file, --agent-client-cert-file and --agent-client-key-file (or --agent-token-file for --insecure agents)",
      });
}

/** Reads the credential files the flags name; errors name the flag. */
export async function loadAgentCredentials(config: AgentAccessConfig): Promise<AgentCredentials> {
  const tokenFile = config["agent-token-file"];
  if (tokenFile) {
    const token = (await readFlagFile("agent-token-file", tokenFile)).trim();
    if (token.length < 16)
      throw new FlagFileError("--agent-token-file: the token must be at least 16 characters");
    return { mode: "token", token };
  }
  const read = (flag: keyof AgentAccessConfig) => readFlagFile(flag, config[flag] as string);
  return {
    mode: "certificate",
    ca: await read("agent-ca-file"),
    cert: await read("agent-client-cert-file"),
    key: await read("agent-client-key-file"),
  };
}

/** TLS options for connections to agents (undici `connect`, https, ws, tls.connect). */
export function agentTlsOptions(
  credentials: AgentCredentials,
): { ca: string; cert: string; key: string } | Record<string, never> {
  if (credentials.mode !== "certificate") return {};
  return { ca: credentials.ca, cert: credentials.cert, key: credentials.key };
}

/** Headers for agent API calls: the bearer token of an --insecure agent, else none. */
export function agentApiHeaders(credentials: AgentCredentials): Record<string, string> {
  return credentials.mode === "token" ? { authorization: `Bearer ${credentials.token}` } : {};
}

/** Headers that let an --insecure agent's ingress port serve sandbox `uid` (a minute-long ticket). */
export function agentIngressHeaders(
  credentials: AgentCredentials,
  uid: string,
): Record<string, string> {
  return credentials.mode === "token"
    ? { [INGRESS_TICKET_HEADER]: signIngressTicket(credentials.token, uid) }
    : {};
}
