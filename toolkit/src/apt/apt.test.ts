import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ToolMissingError } from "../errors.ts";
import { ensureDebianPackages } from "./apt.ts";

describe("ensureDebianPackages", () => {
  it("does nothing when every program is already installed", async () => {
    const installed = await ensureDebianPackages(
      [{ name: "coreutils", isInstalled: async () => true }],
      {
        PATH: "/nonexistent",
      },
    );
    assert.deepEqual(installed, []);
  });

  it("says what to install by hand when apt-get is missing", async () => {
    await assert.rejects(
      ensureDebianPackages([{ name: "turgon-missing-package", isInstalled: async () => false }], {
        ...process.env,
        PATH: "/nonexistent",
      }),
      (error: unknown) => {
        assert.ok(error instanceof ToolMissingError);
        assert.equal(error.tool, "apt-get");
        assert.match(error.message, /apt-get was not found/);
        assert.match(error.hint, /apt-get install -y turgon-missing-package/);
        return true;
      },
    );
  });
});
