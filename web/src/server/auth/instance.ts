import "server-only";
import { serverConfig } from "../config.ts";
import { getDb } from "../db.ts";
import { componentLogger } from "../logger.ts";
import { publishSshUsers } from "../ssh/index.ts";
import { type Auth, createAuth } from "./config.ts";

let auth: Auth | undefined;

/** The dashboard's better-auth instance, made on first use. */
export function getAuth(): Auth {
  if (!auth) {
    const config = serverConfig();
    auth = createAuth({
      prisma: getDb(),
      secret: config.BETTER_AUTH_SECRET,
      baseURL: config.BETTER_AUTH_URL,
      logger: componentLogger("auth"),
      signInLimit: config.TURGON_SIGN_IN_LIMIT,
      trustedProxies: config.TURGON_TRUSTED_PROXIES,
      // Memberships and roles are in the SSH gateway's users list.
      onAccessChange: publishSshUsers,
    });
  }
  return auth;
}
