/**
 * The dashboard's list of SSH users for the router's gateway (the
 * `users.json` key of the Secret turgon-ssh-users): every user with at
 * least one key, as their email, whether they are a platform admin, their
 * teams' slugs and their keys. Pure (unit-tested).
 */
import { SshUsersFile } from "@turgon/api/routing";

/** A user as the database has them, with what the gateway needs. */
export interface SshUserRecord {
  email: string;
  /** better-auth admin plugin roles, comma-separated (`admin`, `user`). */
  role: string | null;
  banned: boolean | null;
  teams: readonly string[];
  /** OpenSSH public key lines, as registered. */
  keys: readonly string[];
}

/**
 * One entry per user who has a key and is not banned, sorted by email;
 * teams sorted and unique, keys unique in registration order. Checked
 * against the contract the router parses with, so a bad entry fails here
 * and not at the gateway.
 */
export function buildSshUsers(
  records: readonly SshUserRecord[],
  adminRole = "admin",
): SshUsersFile {
  const users = records
    .filter((record) => record.keys.length > 0 && record.banned !== true)
    .map((record) => ({
      user: record.email,
      admin: (record.role ?? "")
        .split(",")
        .map((r) => r.trim())
        .includes(adminRole),
      teams: [...new Set(record.teams)].sort(),
      keys: [...new Set(record.keys)],
    }))
    .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  return SshUsersFile.parse(users);
}

/** How many users and keys a list holds: what the logs say instead of the keys themselves. */
export function describeSshUsers(users: SshUsersFile): { users: number; keys: number } {
  return { users: users.length, keys: users.reduce((sum, user) => sum + user.keys.length, 0) };
}
