/**
 * The key the dashboard signs hand-off tokens with: the `current` value of
 * the Secret the router verifies with (TURGON_INGRESS_TOKEN_SECRET, the
 * router's --token-secret), read with the dashboard's own identity and
 * kept briefly, so a rotation reaches the dashboard within that time.
 */
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { KubeApiError } from "../kube/index.ts";

/** The token key could not be read; the message names the Secret. */
export class IngressKeyError extends Error {
  override name = "IngressKeyError";
}

export interface IngressKeySource {
  current(): Promise<Uint8Array>;
}

/** How long a key read from the Secret is used before it is read again. */
export const KEY_TTL_MS = 15_000;

export class IngressKeys implements IngressKeySource {
  private readonly core: CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly ttlMs: number;
  private cached?: { key: Uint8Array; until: number };
  private reading?: Promise<Uint8Array>;

  /** `secret`: namespace/name. */
  constructor(kc: KubeConfig, secret: string, ttlMs = KEY_TTL_MS) {
    this.core = kc.makeApiClient(CoreV1Api);
    [this.namespace, this.name] = secret.split("/") as [string, string];
    this.ttlMs = ttlMs;
  }

  /** The signing key; concurrent callers share one read. */
  async current(): Promise<Uint8Array> {
    if (this.cached && this.cached.until > Date.now()) return this.cached.key;
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<Uint8Array> {
    const ref = `${this.namespace}/${this.name}`;
    let data: Record<string, string> | undefined;
    try {
      data = (await this.core.readNamespacedSecret({ name: this.name, namespace: this.namespace }))
        .data;
    } catch (error) {
      const typed = KubeApiError.from(error);
      throw new IngressKeyError(
        `the ingress token Secret ${ref} could not be read: ${typed instanceof Error ? typed.message : String(typed)}`,
        { cause: error },
      );
    }
    const value = data?.current;
    if (!value) throw new IngressKeyError(`the ingress token Secret ${ref} has no "current" key`);
    // The same bytes the router takes: the data value, base64-decoded.
    const key = new Uint8Array(Buffer.from(value, "base64"));
    this.cached = { key, until: Date.now() + this.ttlMs };
    return key;
  }
}
