import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DevError, PortInUseError } from "@turgon/toolkit/errors";
import { freePort } from "../process/ports.ts";
import { freePorts, portsFromEnv, serviceStatus, startEnvironment } from "./index.ts";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port }, () => resolve(server));
  });
}

describe("startEnvironment", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("refuses a port another process holds, naming it, before starting anything", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "turgon-env-"));
    dirs.push(stateDir);
    const taken = await freePort();
    const squatter = await listen(taken);
    try {
      await assert.rejects(
        startEnvironment({
          stateDir,
          postgresDataDir: join(stateDir, "postgres", "data"),
          ports: { ...(await freePorts()), redis: taken },
          ephemeral: true,
        }),
        (error: unknown) => {
          assert.ok(error instanceof PortInUseError);
          assert.equal(error.service, "redis");
          assert.equal(error.port, taken);
          assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${taken}.*already in use`));
          assert.match(error.hint, /TURGON_REDIS_PORT=<port>/);
          return true;
        },
      );
      const status = await serviceStatus(stateDir);
      assert.deepEqual(
        Object.values(status),
        [undefined, undefined, undefined, undefined, undefined],
        "nothing was started",
      );
    } finally {
      squatter.close();
    }
  });

  it("reads ports from TURGON_*_PORT and rejects values that are not ports", () => {
    assert.equal(portsFromEnv({ TURGON_REDIS_PORT: "7000" }).redis, 7000);
    assert.throws(
      () => portsFromEnv({ TURGON_POSTGRES_PORT: "70000" }),
      (error: unknown) =>
        error instanceof DevError &&
        /TURGON_POSTGRES_PORT=70000 is not a TCP port/.test(error.message),
    );
  });
});
