import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

const valid = {
  DATABASE_URL: "postgresql://turgon:turgon@127.0.0.1:15432/turgon",
  BETTER_AUTH_SECRET: "0123456789abcdef0123456789abcdef",
  BETTER_AUTH_URL: "http://localhost:3000",
};

describe("dashboard configuration", () => {
  it("reads the environment, with defaults for the rest", () => {
    const config = loadConfig({ ...valid, KUBECONFIG: "/tmp/kubeconfig", PATH: "/usr/bin" });
    assert.equal(config.DATABASE_URL, valid.DATABASE_URL);
    assert.equal(config.KUBECONFIG, "/tmp/kubeconfig");
    assert.equal(config.TURGON_INGRESS_TOKEN_SECRET, "turgon-system/turgon-ingress-keys");
    assert.equal(config.TURGON_LOG_LEVEL, "info");
    assert.equal(loadConfig({ ...valid, KUBECONFIG: "" }).KUBECONFIG, undefined);
  });

  it("names every missing or malformed variable", () => {
    assert.throws(
      () =>
        loadConfig({
          DATABASE_URL: "mysql://x",
          BETTER_AUTH_SECRET: "short",
          TURGON_INGRESS_TOKEN_SECRET: "no-slash",
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /DATABASE_URL: must be a postgresql:\/\/ URL/);
        assert.match(error.message, /BETTER_AUTH_SECRET: must be at least 32 characters/);
        assert.match(error.message, /BETTER_AUTH_URL: is not set/);
        assert.match(error.message, /TURGON_INGRESS_TOKEN_SECRET: must be namespace\/name/);
        return true;
      },
    );
  });
});
