import "server-only";
import { headers } from "next/headers";
import { cache } from "react";
import { getDb } from "../db.ts";
import { ADMIN_ROLE } from "./config.ts";
import { getAuth } from "./instance.ts";

export interface SessionUser {
  id: string;
  email: string;
  name: string;
  /** `admin` for platform admins, else `user`. */
  role: string;
}

export interface TurgonSession {
  user: SessionUser;
  isAdmin: boolean;
  /** Slugs of the teams (better-auth organizations) the user belongs to. */
  teams: string[];
  /** Slugs of the teams they own (organization role owner or admin): they may apply policy changes there. */
  owns: string[];
}

/** Who sent these request headers (the session cookie), or null when nobody signed in. */
export async function getSession(requestHeaders: Headers): Promise<TurgonSession | null> {
  const session = await getAuth().api.getSession({ headers: requestHeaders });
  if (!session) return null;
  const { id, email, name } = session.user;
  const role = session.user.role ?? "user";
  const memberships = await getDb().member.findMany({
    where: { userId: id },
    select: { role: true, organization: { select: { slug: true } } },
    orderBy: { organization: { slug: "asc" } },
  });
  return {
    user: { id, email, name, role },
    isAdmin: role.split(",").includes(ADMIN_ROLE),
    teams: memberships.map((m) => m.organization.slug),
    owns: memberships
      .filter((m) => m.role.split(",").some((r) => r === "owner" || r === "admin"))
      .map((m) => m.organization.slug),
  };
}

/** The session of the request being rendered, looked up once per request in server components. */
export const getServerSession = cache(async () => getSession(await headers()));
