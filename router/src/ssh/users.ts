import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import { describeFieldErrors } from "@turgon/api/agent";
import { SshUsersFile } from "@turgon/api/routing";
import { NamedObjectFollower } from "@turgon/toolkit/kube";
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

/**
 * Follows one Secret by name (the toolkit's NamedObjectFollower: a list and
 * a watch narrowed to its name, so RBAC can grant just that Secret by
 * resourceNames) and hands every version's users to `onUsers`: a key
 * registered in the dashboard works at once, without a restart. A deleted
 * or missing Secret means no users.
 */
export class SshUsersSecret {
  private readonly follower: NamedObjectFollower<"secrets">;

  constructor(kc: KubeConfig, ref: string, onUsers: (users: SshUsersFile) => void, log: Logger) {
    const child = log.child({ component: "ssh-users", secret: ref });
    this.follower = new NamedObjectFollower({
      kc,
      kind: "secrets",
      ref,
      onObject: (secret) => {
        const users = usersOfSecret(secret, child);
        child.info({ users: users.length }, "SSH users loaded");
        onUsers(users);
      },
      log: child,
    });
  }

  /** Lists once (failing start-up when the Secret cannot be read at all), then watches. */
  start(): Promise<void> {
    return this.follower.start();
  }

  stop(): void {
    this.follower.stop();
  }
}
