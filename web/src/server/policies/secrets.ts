/**
 * The Secret picker's data: names and key names of the Secrets in a
 * namespace labelled turgon.dev/injectable=true, listed as the user. The
 * values are dropped here, right after the API server answers: they never
 * leave this function, and are never logged.
 */
import { INJECTABLE_LABEL } from "@turgon/api/crd";
import type { ImpersonatedApis } from "../kube/impersonation.ts";

export interface InjectableSecret {
  name: string;
  keys: string[];
}

export async function injectableSecrets(
  apis: ImpersonatedApis,
  namespace: string,
): Promise<InjectableSecret[]> {
  const list = await apis.core.listNamespacedSecret({
    namespace,
    labelSelector: `${INJECTABLE_LABEL}=true`,
  });
  const out: InjectableSecret[] = [];
  for (const secret of list.items) {
    const keys = new Set([
      ...Object.keys(secret.data ?? {}),
      ...Object.keys(secret.stringData ?? {}),
    ]);
    out.push({ name: secret.metadata?.name ?? "", keys: [...keys].sort() });
    // Drop the values at once: only names leave.
    secret.data = undefined;
    secret.stringData = undefined;
  }
  list.items.length = 0;
  return out.filter((s) => s.name).sort((a, b) => a.name.localeCompare(b.name));
}
