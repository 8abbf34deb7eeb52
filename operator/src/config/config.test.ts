import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_EDGE, overrideEdge, sandboxUrl } from "@turgon/api/routing/edge";
import { ConfigError, edgeOverrides, loadConfig } from "./config.ts";

describe("operator configuration", () => {
  it("reads flags over environment over defaults", () => {
    const config = loadConfig(["--agent-token-file", "/t", "--workers", "8"], {
      TURGON_OPERATOR_WORKERS: "2",
      TURGON_INGRESS_DOMAIN: "sbx.example.com",
    });
    assert.equal(config.workers, 8);
    assert.equal(config["ingress-domain"], "sbx.example.com");
    // The flags override the edge ConfigMap's facts; what they leave unset keeps its default.
    const facts = (c: typeof config) => overrideEdge(DEFAULT_EDGE, edgeOverrides(c));
    assert.equal(
      sandboxUrl(
        facts({ ...config, "ingress-scheme": "https", "ingress-port": 0 }),
        "hello",
        "team-a",
      ),
      "https://hello--team-a.sbx.example.com/",
    );
    assert.equal(
      sandboxUrl({ ...facts(config), scheme: "http", port: 8080 }, "a", "b"),
      "http://a--b.sbx.example.com:8080/",
    );
    assert.equal(
      sandboxUrl(facts(config), "a", "b"),
      "http://a--b.sbx.example.com:18080/",
      "the defaults are the router's: plain HTTP on 18080",
    );
  });

  it("rejects bad input naming the flag and its variable", () => {
    const bad = (argv: string[], pattern: RegExp) =>
      assert.throws(
        () => loadConfig(["--agent-token-file", "/t", ...argv], {}),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, pattern);
          return true;
        },
      );
    bad(["--workers", "0"], /--workers \(TURGON_OPERATOR_WORKERS\)/);
    bad(["--ingress-domain", "Not A Domain"], /--ingress-domain .*DNS domain/);
    bad(["--ingress-scheme", "ftp"], /--ingress-scheme/);
    bad(["--sandbox-selector", "a=b=c"], /--sandbox-selector .*label selector/);
    bad(["--no-such-flag", "1"], /Unknown option '--no-such-flag'/);
    assert.throws(() => loadConfig([], {}), /--agent-token-file/);
  });
});
