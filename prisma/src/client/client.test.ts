import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { migrateDatabase } from "../migrate/index.ts";
import { createScratchDatabase, type ScratchDatabase } from "../testing/index.ts";
import {
  createPrismaClient,
  InvalidDatabaseUrlError,
  Prisma,
  type PrismaClient,
  type SshKey,
  type User,
} from "./index.ts";

describe("createPrismaClient", () => {
  let database: ScratchDatabase;
  let prisma: PrismaClient;

  before(async () => {
    database = await createScratchDatabase("prisma_client");
    await migrateDatabase(database.url);
    prisma = createPrismaClient(database.url);
  });
  after(async () => {
    await prisma?.$disconnect();
    await database?.drop();
  });

  test("writes and reads a User and an SshKey", async () => {
    const started = performance.now();
    const user: User = await prisma.user.create({
      data: { id: randomUUID(), name: "Ada", email: "ada@example.test" },
    });
    const key: SshKey = await prisma.sshKey.create({
      data: {
        userId: user.id,
        name: "laptop",
        publicKey:
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYm2b0p0Hd1yZz0r1oY0bq6kq4tqQf3lJv5Yl9cT3xK ada",
        fingerprint: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
      },
    });
    const found = await prisma.user.findUniqueOrThrow({
      where: { email: "ada@example.test" },
      include: { sshKeys: true },
    });
    console.log(
      `create user, create key, read back: ${Math.round(performance.now() - started)} ms`,
    );

    assert.equal(found.name, "Ada");
    assert.equal(found.emailVerified, false);
    assert.equal(found.banned, false);
    assert.equal(found.role, null);
    assert.deepEqual(found.sshKeys, [key]);
    assert.match(key.id, /^[0-9a-f-]{36}$/);
    assert.ok(key.createdAt instanceof Date);

    // Each key belongs to one user; the unique index says so through Prisma's error code.
    await assert.rejects(
      prisma.sshKey.create({
        data: {
          userId: user.id,
          name: "again",
          publicKey: key.publicKey,
          fingerprint: key.fingerprint,
        },
      }),
      (error) => {
        assert.ok(error instanceof Prisma.PrismaClientKnownRequestError);
        assert.equal(error.code, "P2002");
        return true;
      },
    );

    // Deleting the user deletes their keys (onDelete: Cascade).
    await prisma.user.delete({ where: { id: user.id } });
    assert.equal(await prisma.sshKey.count(), 0);
  });

  test("refuses a malformed URL before connecting", () => {
    assert.throws(
      () => createPrismaClient("mysql://root@localhost/turgon"),
      InvalidDatabaseUrlError,
    );
    assert.throws(() => createPrismaClient("not a url"), InvalidDatabaseUrlError);
  });
});
