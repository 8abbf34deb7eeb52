/**
 * The dashboard's Prisma client: the generated client (prisma/generated/client,
 * written by `prisma generate` in dev/bin/bootstrap.sh) with its types, and a
 * constructor that connects it through @prisma/adapter-pg.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../../generated/client/client.ts";
import { parseDatabaseUrl } from "../database/url.ts";

export * from "../../generated/client/client.ts";
export { InvalidDatabaseUrlError } from "../database/url.ts";

/**
 * A PrismaClient on a pg pool for `databaseUrl` (postgresql://...; `?schema=`
 * picks a schema other than public). Throws InvalidDatabaseUrlError for a
 * malformed URL; connects on first query. Call `$disconnect()` to close the pool.
 */
export function createPrismaClient(databaseUrl: string): PrismaClient {
  const { schema } = parseDatabaseUrl(databaseUrl);
  const adapter = new PrismaPg(
    { connectionString: databaseUrl },
    schema === "public" ? undefined : { schema },
  );
  return new PrismaClient({ adapter });
}
