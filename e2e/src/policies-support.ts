/** Users of a team with a role (member or owner) for the policies tests, on a test dashboard's database. */

import type { TestDashboard } from "@turgon/dev/testing/dashboard";
import { createPrismaClient } from "@turgon/prisma";
import { createAuth } from "@turgon/web/auth";
import pino from "pino";

export async function addTeamUser(
  dashboard: TestDashboard,
  user: { email: string; password: string; name: string; team: string; role: "member" | "owner" },
): Promise<void> {
  const prisma = createPrismaClient(dashboard.databaseUrl);
  try {
    const auth = createAuth({
      prisma,
      secret: "only-hashes-passwords-here-not-sessions-0123456789",
      baseURL: dashboard.url,
      logger: pino({ name: "test-users", level: "warn" }),
    });
    const created = await auth.api.createUser({
      body: { email: user.email, password: user.password, name: user.name, role: "user" },
    });
    let team = await prisma.organization.findUnique({ where: { slug: user.team } });
    if (!team) {
      const admin = await prisma.user.findUniqueOrThrow({
        where: { email: dashboard.admin.email },
        select: { id: true },
      });
      await auth.api.createOrganization({
        body: { name: user.team, slug: user.team, userId: admin.id },
      });
      team = await prisma.organization.findUniqueOrThrow({ where: { slug: user.team } });
    }
    await auth.api.addMember({
      body: { userId: created.user.id, role: user.role, organizationId: team.id },
    });
  } finally {
    await prisma.$disconnect();
  }
}
