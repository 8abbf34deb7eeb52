import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadRouterConfig } from "./config.ts";

describe("router configuration", () => {
  it("has local defaults", () => {
    const config = loadRouterConfig([], {});
    assert.equal(config.port, 18080);
    assert.equal(config["ingress-domain"], "localhost");
    assert.equal(config["token-secret"], "turgon-system/turgon-ingress-keys");
  });

  it("rejects bad input naming the flag", () => {
    const bad = (argv: string[], pattern: RegExp) =>
      assert.throws(
        () => loadRouterConfig(argv, {}),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, pattern);
          return true;
        },
      );
    bad(["--port", "70000"], /--port \(TURGON_ROUTER_PORT\)/);
    bad(["--token-secret", "just-a-name"], /--token-secret .*namespace\/name/);
    bad(["--sign-in-url", "not a url"], /--sign-in-url/);
    bad(["--tls-cert-file", "/c.pem"], /--tls-key-file .*go together/);
    bad(["--agent-connect-timeout-ms", "5"], /--agent-connect-timeout-ms/);
  });
});
