import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { TLSSocket } from "node:tls";
import {
  AGENT_CLIENTS,
  type AgentCaller,
  INGRESS_TICKET_HEADER,
  verifyIngressTicket,
} from "@turgon/api/agent";

/** The OID of the clientAuth extended key usage: a serving certificate is not a client's. */
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

const CALLER_BY_NAME = new Map<string, AgentCaller>(
  Object.entries(AGENT_CLIENTS).map(([caller, name]) => [name, caller as AgentCaller]),
);

/**
 * How an agent tells its callers apart. With TLS, by the client certificate
 * (verified against `--client-ca-file`, with the clientAuth usage and a
 * known common name); with `--insecure`, a bearer token that stands for the
 * whole control plane.
 */
export type CallerAuthentication = { mode: "certificate" } | { mode: "token"; token: string };

function tokensMatch(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Each TLS connection's caller (null: none), read from its certificate at
 * its first request: decoding the certificate on every request was a sixth
 * of the agent's CPU under ingress load. A connection cannot change its
 * certificate later: the agent's servers refuse renegotiation
 * (`tlsServerOptions`), and TLS 1.3 has none.
 */
const callerOfConnection = new WeakMap<TLSSocket, AgentCaller | null>();

function callerOfCertificate(socket: TLSSocket): AgentCaller | undefined {
  if (!socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  if (!certificate?.ext_key_usage?.includes(CLIENT_AUTH)) return undefined;
  const name = certificate.subject?.CN;
  return typeof name === "string" ? CALLER_BY_NAME.get(name) : undefined;
}

function callerByCertificate(request: IncomingMessage): AgentCaller | undefined {
  const socket = request.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const known = callerOfConnection.get(socket);
  if (known !== undefined) return known ?? undefined;
  const caller = callerOfCertificate(socket);
  callerOfConnection.set(socket, caller ?? null);
  return caller;
}

function callerByToken(request: IncomingMessage, token: string): AgentCaller | undefined {
  const header = request.headers.authorization ?? "";
  const presented = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
  // One token is the whole control plane: it may do what the operator does.
  return presented && tokensMatch(presented, token) ? "operator" : undefined;
}

/** The control-plane component making an API request, or undefined for anyone else. */
export function identifyCaller(
  request: IncomingMessage,
  auth: CallerAuthentication,
): AgentCaller | undefined {
  return auth.mode === "certificate"
    ? callerByCertificate(request)
    : callerByToken(request, auth.token);
}

/**
 * Whether an ingress request may name sandbox `uid`: only the router may
 * pick a sandbox (its client certificate), or, on an `--insecure` agent, a
 * fresh ticket for exactly that sandbox.
 */
export function ingressAllowed(
  request: IncomingMessage,
  uid: string,
  auth: CallerAuthentication,
): boolean {
  if (auth.mode === "certificate") return callerByCertificate(request) === "router";
  const ticket = request.headers[INGRESS_TICKET_HEADER];
  return verifyIngressTicket(auth.token, uid, typeof ticket === "string" ? ticket : undefined);
}

/** Routes only the operator calls: desired state, observation, events. */
export const OPERATOR: readonly AgentCaller[] = ["operator"];
/** Routes the router calls for users at the edge (exec, SSH), and the operator too. */
export const CONTROL_PLANE: readonly AgentCaller[] = ["operator", "router"];

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route; a route that does not say is closed to everyone. */
    callers?: readonly AgentCaller[] | "anyone";
  }
}
