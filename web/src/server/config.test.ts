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
    assert.equal(config.TURGON_SIGN_IN_LIMIT, 3, "better-auth's own limit for sign-ins");
    // The edge ConfigMap the operator and the router read, and the SSH users Secret the router follows.
    assert.equal(config.TURGON_EDGE_CONFIG, "turgon-system/turgon-edge");
    assert.equal(config.TURGON_SSH_USERS_SECRET, "turgon-system/turgon-ssh-users");
    assert.equal(config.TURGON_SSH_USERS_KEY, "users.json");
    assert.equal(loadConfig({ ...valid, KUBECONFIG: "" }).KUBECONFIG, undefined);
  });

  it("takes the edge ConfigMap and the SSH users Secret from the environment", () => {
    const config = loadConfig({
      ...valid,
      TURGON_EDGE_CONFIG: "platform/edge",
      TURGON_SSH_USERS_SECRET: "platform/ssh-users",
      TURGON_SSH_USERS_KEY: "dashboard-a.json",
    });
    assert.equal(config.TURGON_EDGE_CONFIG, "platform/edge");
    assert.equal(config.TURGON_SSH_USERS_SECRET, "platform/ssh-users");
    assert.equal(config.TURGON_SSH_USERS_KEY, "dashboard-a.json");
  });

  it("names every missing or malformed variable", () => {
    assert.throws(
      () =>
        loadConfig({
          DATABASE_URL: "mysql://x",
          BETTER_AUTH_SECRET: "short",
          TURGON_INGRESS_TOKEN_SECRET: "no-slash",
          TURGON_EDGE_CONFIG: "no-slash",
          TURGON_INGRESS_DOMAIN: "sandboxes.example.com",
          TURGON_SSH_USERS_KEY: "users.yaml",
          TURGON_SIGN_IN_LIMIT: "0",
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /DATABASE_URL: must be a postgresql:\/\/ URL/);
        assert.match(error.message, /BETTER_AUTH_SECRET: must be at least 32 characters/);
        assert.match(error.message, /BETTER_AUTH_URL: is not set/);
        assert.match(error.message, /TURGON_INGRESS_TOKEN_SECRET: must be namespace\/name/);
        assert.match(error.message, /TURGON_EDGE_CONFIG: must be namespace\/name/);
        // The edge's facts once came from variables: a deployment still setting them is told where they went.
        assert.match(
          error.message,
          /TURGON_INGRESS_DOMAIN: is no longer read: the edge's domain, scheme and port come from the edge ConfigMap \(TURGON_EDGE_CONFIG/,
        );
        assert.match(
          error.message,
          /TURGON_SSH_USERS_KEY: must be a Secret data key ending in \.json/,
        );
        assert.match(error.message, /TURGON_SIGN_IN_LIMIT: must be at least 1/);
        return true;
      },
    );
  });
});
