import assert from "node:assert/strict";
import { homedir } from "node:os";
import { describe, it } from "node:test";
import { run } from "@turgon/toolkit/run";
import { ensureHelmBinary, HELM_VERSION, helmEnvironment } from "./helm.ts";

describe("Helm from the Go module proxy", () => {
  it("reports its release, and keeps its homes in the Turgon cache, not Helm's defaults under $HOME", async () => {
    // Built once per cache (about 130-250 s cold on 2 cores), then reused.
    const helm = await ensureHelmBinary();
    const env = await helmEnvironment();
    const version = await run(helm, ["version", "--template", "{{ .Version }}"], { env });
    assert.equal(version.exitCode, 0, version.tail);
    assert.equal(version.stdout.trim(), HELM_VERSION);
    const paths = await run(helm, ["env"], { env });
    for (const name of ["HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"]) {
      const line = paths.stdout.split("\n").find((l) => l.startsWith(`${name}=`));
      assert.ok(line, `helm env shows ${name}`);
      const value = JSON.parse(line.slice(name.length + 1)) as string;
      assert.equal(value, env[name]);
      assert.ok(
        !value.startsWith(`${homedir()}/.config`) && !value.startsWith(`${homedir()}/.local`),
      );
    }
  });
});
