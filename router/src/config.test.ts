import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_EDGE } from "@turgon/api/routing/edge";
import { agentClientFlags, toArgs } from "@turgon/dev/stack";
import { ConfigError, loadRouterConfig, servesHttps, wakeMaxHeldPerTeam } from "./config.ts";

describe("router configuration", () => {
  const pair = (name: string) => ({ cert: `/pki/${name}.crt`, key: `/pki/${name}.key` });
  /** How the router reaches agents: its client certificate from the agent plane's CA (flags as the stacks build them). */
  const agents = toArgs(
    agentClientFlags(
      {
        pki: {
          ca: "/pki/ca.crt",
          agent: pair("agent"),
          operator: pair("operator"),
          router: pair("router"),
        },
      },
      "router",
    ),
  );

  it("has local defaults", () => {
    const config = loadRouterConfig(agents, {});
    assert.equal(config.port, 18080);
    assert.equal(
      config["edge-config"],
      "turgon-system/turgon-edge",
      "the domain comes from the edge ConfigMap",
    );
    assert.equal(DEFAULT_EDGE.domain, "localhost");
    assert.equal(config["token-secret"], "turgon-system/turgon-ingress-keys");
    assert.equal(config["external-tls"], false);
    assert.deepEqual(config["trusted-proxies"], [], "no proxy is trusted unless configured");
    assert.equal(servesHttps(config), false);
    assert.deepEqual(
      [
        config["wake-timeout-seconds"],
        config["wake-max-held"],
        config["wake-max-held-per-sandbox"],
        wakeMaxHeldPerTeam(config),
      ],
      [50, 1024, 64, 256],
    );
  });

  it("reads TLS in front and trusted proxies", () => {
    const config = loadRouterConfig(
      [...agents, "--external-tls", "true", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,fd00::/8"],
      {},
    );
    assert.equal(servesHttps(config), true);
    assert.deepEqual(config["trusted-proxies"], [
      { address: "10.0.0.0", prefix: 8, family: "ipv4" },
      { address: "127.0.0.1", prefix: 32, family: "ipv4" },
      { address: "fd00::", prefix: 8, family: "ipv6" },
    ]);
    assert.equal(
      loadRouterConfig(agents, { TURGON_ROUTER_TRUSTED_PROXIES: "192.168.0.0/16" })[
        "trusted-proxies"
      ].length,
      1,
    );
  });

  it("rejects bad input naming the flag", () => {
    const bad = (argv: string[], pattern: RegExp) =>
      assert.throws(
        () => loadRouterConfig([...agents, ...argv], {}),
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
    bad(["--ssh-users-secret", "turgon-system/x"], /--ssh-host-key-file goes with/);
    bad(["--ssh-host-key-file", "/k"], /--ssh-host-key-file goes with/);
    bad(
      ["--ssh-host-key-file", "/k", "--ssh-users-file", "/u", "--ssh-users-secret", "a/b"],
      /--ssh-users-secret .*give one/,
    );
    bad(["--ssh-users-secret", "no-slash"], /--ssh-users-secret .*namespace\/name/);
    bad(["--agent-connect-timeout-ms", "5"], /--agent-connect-timeout-ms/);
    bad(
      ["--wake-timeout-seconds", "0"],
      /--wake-timeout-seconds \(TURGON_ROUTER_WAKE_TIMEOUT_SECONDS\)/,
    );
    bad(["--wake-timeout-seconds", "a minute"], /--wake-timeout-seconds/);
    bad(["--wake-max-held", "0"], /--wake-max-held \(TURGON_ROUTER_WAKE_MAX_HELD\)/);
    bad(
      ["--wake-max-held", "10", "--wake-max-held-per-sandbox", "11"],
      /--wake-max-held-per-sandbox .*must not exceed --wake-max-held/,
    );
    bad(
      ["--wake-max-held", "100", "--wake-max-held-per-team", "101"],
      /--wake-max-held-per-team .*must lie between/,
    );
    bad(
      ["--wake-max-held-per-sandbox", "64", "--wake-max-held-per-team", "63"],
      /--wake-max-held-per-team .*must lie between/,
    );
    bad(
      ["--session-ttl-seconds", "10"],
      /--session-ttl-seconds \(TURGON_ROUTER_SESSION_TTL_SECONDS\)/,
    );
    bad(["--session-ttl-seconds", "a week"], /--session-ttl-seconds/);
    bad(
      ["--external-tls", "maybe"],
      /--external-tls \(TURGON_ROUTER_EXTERNAL_TLS\): must be true or false/,
    );
    bad(
      ["--trusted-proxies", "10.0.0.0/33"],
      /--trusted-proxies .*"10\.0\.0\.0\/33" is not an address/,
    );
    bad(["--trusted-proxies", "example.com"], /--trusted-proxies .*"example\.com"/);
    bad(["--agent-token-file", "/t"], /--agent-token-file .*does not go with --agent-ca-file/);
  });

  it("needs a way to reach the agents: a client certificate, or the token of --insecure agents", () => {
    assert.throws(
      () => loadRouterConfig([], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--agent-ca-file/.test(error.message) &&
        /--agent-client-cert-file/.test(error.message) &&
        /--agent-client-key-file/.test(error.message),
    );
    assert.equal(loadRouterConfig(["--agent-token-file", "/t"], {})["agent-token-file"], "/t");
  });
});
