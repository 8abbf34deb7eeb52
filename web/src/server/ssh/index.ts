import "server-only";
import { ADMIN_ROLE } from "../auth/config.ts";
import { serverConfig } from "../config.ts";
import { getDb } from "../db.ts";
import { dashboardKubeConfig } from "../kubeconfig.ts";
import { componentLogger } from "../logger.ts";
import { SshUsersPublisher } from "./publisher.ts";
import { buildSshUsers } from "./users-file.ts";

export { parseSshPublicKey, SshKeyError, type SshPublicKey } from "./keys.ts";

/** Every user with a key, their roles, teams and keys, from the database. */
async function loadSshUsers() {
  const users = await getDb().user.findMany({
    where: { sshKeys: { some: {} } },
    select: {
      email: true,
      role: true,
      banned: true,
      members: { select: { organization: { select: { slug: true } } } },
      sshKeys: { select: { publicKey: true }, orderBy: { createdAt: "asc" } },
    },
  });
  return buildSshUsers(
    users.map((user) => ({
      email: user.email,
      role: user.role,
      banned: user.banned,
      teams: user.members.map((m) => m.organization.slug),
      keys: user.sshKeys.map((k) => k.publicKey),
    })),
    ADMIN_ROLE,
  );
}

const globalForSsh = globalThis as unknown as { turgonSshUsers?: SshUsersPublisher };

function publisher(): SshUsersPublisher {
  if (!globalForSsh.turgonSshUsers) {
    const config = serverConfig();
    const [namespace, name] = config.TURGON_SSH_USERS_SECRET.split("/") as [string, string];
    globalForSsh.turgonSshUsers = new SshUsersPublisher({
      kc: dashboardKubeConfig(),
      target: { namespace, name, key: config.TURGON_SSH_USERS_KEY },
      load: loadSshUsers,
      log: componentLogger("ssh-users"),
    });
  }
  return globalForSsh.turgonSshUsers;
}

/**
 * Rewrites the dashboard's SSH users list in the background: call after
 * any change to keys, team memberships or admin roles. Never throws and
 * never waits for the write (which is retried until it succeeds).
 */
export function publishSshUsers(reason: string): void {
  try {
    publisher().request(reason);
  } catch (error) {
    // Only a broken configuration gets here (no KUBECONFIG); the user's change stands.
    componentLogger("ssh-users").error({ err: error, reason }, "cannot publish the SSH users");
  }
}
