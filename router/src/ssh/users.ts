import { CoreV1Api, type KubeConfig, type V1Secret, Watch } from "@kubernetes/client-node";
import { describeFieldErrors } from "@turgon/api/agent";
import { SshUsersFile } from "@turgon/api/routing";
import type { z } from "zod";
import type { Logger } from "../logger.ts";

/** A list of SSH users that is not valid, with the source and the fields named. */
export class SshUsersError extends Error {}

/** Parses one users document (the file, or one key of the Secret); throws SshUsersError. */
export function parseSshUsers(text: string, source: string): SshUsersFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SshUsersError(`${source}: not JSON (${(error as Error).message})`);
  }
  const parsed = SshUsersFile.safeParse(json);
  if (!parsed.success)
    throw new SshUsersError(`${source}: ${describeFieldErrors(parsed.error as z.ZodError)}`);
  return parsed.data;
}

/**
 * The SSH users of a Secret: every data key ending in `.json` holds a users
 * list, and the gateway admits their union. The dashboard writes
 * `users.json`; other writers (a break-glass list, a test stack) use keys of
 * their own, so no writer overwrites another's. A key that does not parse is
 * left out and logged, so one bad writer shuts out only its own users.
 */
export function usersOfSecret(secret: V1Secret | undefined, log: Logger): SshUsersFile {
  const data = secret?.data ?? {};
  return Object.keys(data)
    .filter((key) => key.endsWith(".json"))
    .sort()
    .flatMap((key) => {
      try {
        return parseSshUsers(Buffer.from(data[key] ?? "", "base64").toString("utf8"), key);
      } catch (error) {
        if (!(error instanceof SshUsersError)) throw error;
        log.warn({ err: error, key }, "SSH users left out");
        return [];
      }
    });
}

const RETRY_MS = 2000;

/**
 * Follows one Secret with a list and a watch narrowed to its name (so RBAC
 * can grant just that Secret, by resourceNames), and hands every version's
 * users to `onUsers`: a key registered in the dashboard works at once,
 * without a restart. A deleted or missing Secret means no users.
 */
export class SshUsersSecret {
  private readonly kc: KubeConfig;
  private readonly namespace: string;
  private readonly name: string;
  private readonly onUsers: (users: SshUsersFile) => void;
  private readonly log: Logger;
  private watch?: AbortController;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(kc: KubeConfig, ref: string, onUsers: (users: SshUsersFile) => void, log: Logger) {
    this.kc = kc;
    [this.namespace, this.name] = ref.split("/") as [string, string];
    this.onUsers = onUsers;
    this.log = log.child({ component: "ssh-users", secret: ref });
  }

  /** Lists once (failing start-up when the Secret cannot be read at all), then watches. */
  async start(): Promise<void> {
    await this.listAndWatch();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.watch?.abort();
  }

  private get fieldSelector() {
    return `metadata.name=${this.name}`;
  }

  private async listAndWatch(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const list = await core.listNamespacedSecret({
      namespace: this.namespace,
      fieldSelector: this.fieldSelector,
    });
    this.publish(list.items[0]);
    if (this.stopped) return;
    this.watch = await new Watch(this.kc).watch(
      `/api/v1/namespaces/${this.namespace}/secrets`,
      {
        fieldSelector: this.fieldSelector,
        resourceVersion: list.metadata?.resourceVersion,
        allowWatchBookmarks: true,
      },
      (phase, secret: V1Secret) => {
        if (phase === "ADDED" || phase === "MODIFIED") this.publish(secret);
        else if (phase === "DELETED") this.publish(undefined);
      },
      (error) => this.restart(error),
    );
  }

  private publish(secret: V1Secret | undefined): void {
    const users = usersOfSecret(secret, this.log);
    this.log.info({ users: users.length }, "SSH users loaded");
    this.onUsers(users);
  }

  /** Watches end (timeouts, 410 Gone, a lost connection): list again and go on. */
  private restart(error: unknown): void {
    if (this.stopped) return;
    if (error) this.log.warn({ err: error }, "SSH users watch ended; listing again");
    this.retry = setTimeout(() => {
      this.listAndWatch().catch((failure) => this.restart(failure));
    }, RETRY_MS);
    this.retry.unref();
  }
}
