import { createHttpHooks, type HttpHooks, type SecretManager } from "@earendil-works/gondolin";

/** A secret as the agent gets it in the policy: its env name, the hosts it may go to, its value. */
export interface LiveSecret {
  name: string;
  hosts: string[];
  value: string;
}

/** What the policy's own hooks (the auditor's) decide; Gondolin adds secret substitution around them. */
export type PolicyHooks = Required<
  Pick<HttpHooks, "onRequest" | "isRequestAllowed" | "isIpAllowed" | "onResponse">
>;

/** What changed in the set of secret names by an update. */
export interface SecretNameChange {
  added: string[];
  removed: string[];
}

/**
 * A VM's HTTP hooks with secrets that change while it runs, new names included.
 *
 * Gondolin's `createHttpHooks` fixes the set of secret names when it is
 * made: its `secretManager` can only change the value and hosts of a name it
 * already has. The VM, though, keeps the one `HttpHooks` object it was
 * booted with and reads its callbacks on every request. So the VM gets
 * `httpHooks`, a stable object that delegates to the current
 * `createHttpHooks` result; a new or removed name makes a new result, in
 * which every kept secret has the placeholder it had (`placeholder`), so
 * what the guest already holds stays valid. A removed name's placeholder
 * then substitutes nothing: it goes out as the meaningless text it is.
 * Values and hosts of kept names change through `updateSecret`, in place.
 */
export class LiveSecretHooks {
  /** What the VM is given; it delegates to the current hooks on every call. */
  readonly httpHooks: HttpHooks;
  private current: { httpHooks: HttpHooks; secretManager: SecretManager };
  /** Name → placeholder, of the secrets in force. */
  private env: Record<string, string> = {};
  /** Placeholder → the secret's name and hosts, for the auditor (never the value). */
  private byPlaceholder = new Map<string, { name: string; hosts: string[] }>();
  private readonly policyHooks: PolicyHooks;

  constructor(policyHooks: PolicyHooks, secrets: LiveSecret[]) {
    this.policyHooks = policyHooks;
    this.current = this.build(secrets, {});
    const current = () => this.current.httpHooks;
    // Gondolin's own isRequestAllowed / isIpAllowed only call ours (allowedHosts "*",
    // no range block); onRequest substitutes placeholders after ours has run.
    this.httpHooks = {
      onRequest: (request) => current().onRequest?.(request),
      isRequestAllowed: (request) => current().isRequestAllowed?.(request) ?? true,
      isIpAllowed: (info) => current().isIpAllowed?.(info) ?? true,
      onResponse: (response, request) => current().onResponse?.(response, request),
    };
  }

  private build(
    secrets: LiveSecret[],
    keep: Record<string, string>,
  ): { httpHooks: HttpHooks; secretManager: SecretManager } {
    const { httpHooks, env, secretManager } = createHttpHooks({
      // Turgon's guard decides, live; Gondolin's own allowlist and range block stay open.
      allowedHosts: ["*"],
      blockInternalRanges: false,
      secrets: Object.fromEntries(
        secrets.map((s) => [
          s.name,
          {
            hosts: s.hosts,
            value: s.value,
            ...(keep[s.name] ? { placeholder: keep[s.name] } : {}),
          },
        ]),
      ),
      ...this.policyHooks,
    });
    this.env = env;
    this.index(secrets);
    return { httpHooks, secretManager };
  }

  private index(secrets: LiveSecret[]): void {
    this.byPlaceholder = new Map(
      secrets.map((s) => [this.env[s.name] as string, { name: s.name, hosts: [...s.hosts] }]),
    );
  }

  /**
   * Puts `secrets` in force: values and hosts of known names in place, and
   * new hooks when a name comes or goes. Returns the names added and removed.
   */
  update(secrets: LiveSecret[]): SecretNameChange {
    const wanted = new Set(secrets.map((s) => s.name));
    const added = [...wanted].filter((name) => !(name in this.env)).sort();
    const removed = Object.keys(this.env)
      .filter((name) => !wanted.has(name))
      .sort();
    if (added.length > 0 || removed.length > 0) {
      this.current = this.build(secrets, this.env);
    } else {
      for (const secret of secrets)
        this.current.secretManager.updateSecret(secret.name, {
          value: secret.value,
          hosts: secret.hosts,
        });
      this.index(secrets);
    }
    return { added, removed };
  }

  /** The guest's view: each secret's env name and its placeholder, never the value. */
  placeholderEnv(): Record<string, string> {
    return { ...this.env };
  }

  /** Placeholder → name and hosts of every secret in force. */
  placeholders(): Map<string, { name: string; hosts: string[] }> {
    return this.byPlaceholder;
  }

  names(): string[] {
    return Object.keys(this.env).sort();
  }
}
