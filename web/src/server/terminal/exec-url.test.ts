import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EXEC_PATH } from "@turgon/api/routing";
import { ConfigError, loadConfig } from "../config.ts";
import { execSocketUrl } from "./exec-url.ts";

const valid = {
  DATABASE_URL: "postgresql://turgon:turgon@127.0.0.1:15432/turgon",
  BETTER_AUTH_SECRET: "0123456789abcdef0123456789abcdef",
  BETTER_AUTH_URL: "http://localhost:3000",
};

describe("the router's exec URL", () => {
  it("is EXEC_PATH on the router's origin, ws: for http: and wss: for https:, with the token", () => {
    assert.equal(EXEC_PATH, "/v1/exec");
    assert.equal(
      execSocketUrl("http://localhost:18080", "a.b.c"),
      "ws://localhost:18080/v1/exec?token=a.b.c",
    );
    assert.equal(
      execSocketUrl("https://sandboxes.example.com/", "t"),
      "wss://sandboxes.example.com/v1/exec?token=t",
    );
  });

  it("comes from TURGON_ROUTER_URL, http://localhost:18080 by default (npm run up's router)", () => {
    assert.equal(loadConfig(valid).TURGON_ROUTER_URL, "http://localhost:18080");
    assert.equal(
      loadConfig({ ...valid, TURGON_ROUTER_URL: "https://router.example.com" }).TURGON_ROUTER_URL,
      "https://router.example.com",
    );
  });

  it("refuses a TURGON_ROUTER_URL that is not a plain http(s) origin, naming it", () => {
    for (const bad of [
      "ws://localhost:18080",
      "localhost:18080",
      "http://localhost:18080/exec",
      "http://localhost:18080/?x=1",
      "http://user:pw@localhost:18080",
    ])
      assert.throws(
        () => loadConfig({ ...valid, TURGON_ROUTER_URL: bad }),
        (error: unknown) =>
          error instanceof ConfigError && /TURGON_ROUTER_URL: must be/.test(error.message),
        bad,
      );
  });
});
