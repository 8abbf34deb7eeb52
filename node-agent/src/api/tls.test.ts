/**
 * Watching the agent's TLS files: new material reaches `onChange` once whole,
 * and a change that fails to apply does not stop later ones.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ensureAgentPki, eventually } from "@turgon/dev/testing";
import { logger } from "../logger.ts";
import { type AgentTls, watchTlsFiles } from "./tls.ts";

const log = logger.child({ test: "tls-watch" }, { level: "silent" });

describe("watching the TLS files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-tls-watch-"));
  after(() => rm(dir, { recursive: true, force: true }));

  it("goes on after applying a change throws: the next change still arrives", async () => {
    const served = await ensureAgentPki(join(dir, "pki"), "watch-a");
    const second = await ensureAgentPki(join(dir, "pki"), "watch-b");
    const third = await ensureAgentPki(join(dir, "pki"), "watch-c");
    const files = { cert: served.agent.cert, key: served.agent.key, clientCa: served.ca };
    const read = async (): Promise<AgentTls> => ({
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
      clientCa: await readFile(files.clientCa, "utf8"),
    });
    const seen: string[] = [];
    const unwatch = watchTlsFiles(
      files,
      await read(),
      (tls) => {
        seen.push(tls.cert);
        if (seen.length === 1) throw new Error("the first change does not apply");
      },
      { log, intervalMs: 20 },
    );
    try {
      const rotate = async (to: { cert: string; key: string }) => {
        await copyFile(to.key, files.key);
        await copyFile(to.cert, files.cert);
        return readFile(to.cert, "utf8");
      };
      const secondCert = await rotate(second.agent);
      await eventually(
        "the first change",
        () => seen.length,
        (n) => n >= 1,
        5_000,
        20,
      );
      assert.equal(seen.at(-1), secondCert);
      const thirdCert = await rotate(third.agent);
      await eventually(
        "the change after the one that threw",
        () => seen.at(-1),
        (cert) => cert === thirdCert,
        5_000,
        20,
      );
    } finally {
      unwatch();
    }
  });
});
