import "server-only";
import { createPrismaClient, type PrismaClient } from "@turgon/prisma";
import { serverConfig } from "./config.ts";

// One client per server process; in `next dev` module reloads would otherwise
// open a new pool on every edit.
const globalForDb = globalThis as unknown as { turgonDb?: PrismaClient };

/** The dashboard's Prisma client, made on first use (not while `next build` imports modules). */
export function getDb(): PrismaClient {
  globalForDb.turgonDb ??= createPrismaClient(serverConfig().DATABASE_URL);
  return globalForDb.turgonDb;
}
