// Read by the Prisma CLI (prisma/bin/prisma passes --config). Prisma 7 keeps
// the connection here, not in schema.prisma.
import { fileURLToPath } from "node:url";
import { defineConfig } from "prisma/config";

// `npm run up`'s database, so `migrate dev` works with no set-up on a laptop.
const LOCAL_DATABASE_URL = "postgresql://turgon:turgon@127.0.0.1:15432/turgon";

// The CLI would download a native schema engine; nothing downloads here, so
// it runs our stand-in over the wasm engine. The CLI reads this file before
// it looks for the engine, so setting it here also covers a bare `npx prisma`.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(
  new URL("./bin/schema-engine", import.meta.url),
);

export default defineConfig({
  schema: "schema.prisma",
  migrations: { path: "migrations" },
  datasource: {
    url: process.env.DATABASE_URL || LOCAL_DATABASE_URL,
    // Optional: without it the stand-in creates and drops a throw-away database.
    shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL || undefined,
  },
});
