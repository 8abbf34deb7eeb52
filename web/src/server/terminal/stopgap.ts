/**
 * STOP-GAP until the teams branch lands `~/server/kubeconfig.ts` (the
 * dashboard's KubeConfig singleton) and `~/server/ingress/keys.ts` (the
 * reader of the ingress token key Secret); then this file goes and the
 * terminal uses those. Same shapes, so the swap is an import change.
 */
import "server-only";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { serverConfig } from "../config.ts";
import { KubeApiError, loadKubeConfig } from "../kube/index.ts";

const globalForTerminal = globalThis as unknown as {
  turgonTerminalKubeConfig?: KubeConfig;
  turgonTerminalKey?: { key: Uint8Array; until: number };
};

/** The dashboard's own identity, made on first use (not while `next build` imports modules). */
export function dashboardKubeConfig(): KubeConfig {
  globalForTerminal.turgonTerminalKubeConfig ??= loadKubeConfig();
  return globalForTerminal.turgonTerminalKubeConfig;
}

/** The token key could not be read; the message names the Secret. */
export class IngressKeyError extends Error {
  override name = "IngressKeyError";
}

/** Re-read after this long, so a rotation of the Secret reaches the dashboard. */
const KEY_TTL_MS = 15_000;

/** The `current` key of TURGON_INGRESS_TOKEN_SECRET, as the router (--token-secret) verifies with. */
export async function currentSigningKey(): Promise<Uint8Array> {
  const cached = globalForTerminal.turgonTerminalKey;
  if (cached && cached.until > Date.now()) return cached.key;
  const ref = serverConfig().TURGON_INGRESS_TOKEN_SECRET;
  const [namespace, name] = ref.split("/") as [string, string];
  let value: string | undefined;
  try {
    const secret = await dashboardKubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedSecret({ name, namespace });
    value = secret.data?.current;
  } catch (error) {
    const typed = KubeApiError.from(error);
    throw new IngressKeyError(
      `the ingress token Secret ${ref} could not be read: ${typed instanceof Error ? typed.message : String(typed)}`,
      { cause: error },
    );
  }
  if (!value) throw new IngressKeyError(`the ingress token Secret ${ref} has no "current" key`);
  const key = new Uint8Array(Buffer.from(value, "base64"));
  globalForTerminal.turgonTerminalKey = { key, until: Date.now() + KEY_TTL_MS };
  return key;
}
