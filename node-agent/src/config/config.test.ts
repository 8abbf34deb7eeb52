import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

describe("agent configuration", () => {
  const base = ["--node-name", "kvm-1", "--insecure", "true", "--token-file", "/etc/turgon/token"];

  it("reads flags, then environment variables, then defaults", () => {
    const config = loadConfig([...base, "--api-port", "9000"], {
      TURGON_AGENT_MAX_VMS: "7",
      TURGON_AGENT_API_PORT: "1",
    });
    assert.equal(config["api-port"], 9000, "a flag beats the environment");
    assert.equal(config["max-vms"], 7);
    assert.equal(config.accelerator, "auto");
    assert.equal(config["tcg-tb-size-mib"], 32);
    assert.equal(config["free-page-reporting"], true);
    assert.equal(config.runtime, "qemu");
    assert.equal(config["simulated-boot-ms"], 200);
  });

  it("takes the simulated runtime only by name, with a bounded boot delay", () => {
    const config = loadConfig([...base, "--runtime", "simulated", "--simulated-boot-ms", "0"], {});
    assert.equal(config.runtime, "simulated");
    assert.equal(config["simulated-boot-ms"], 0);
    assert.throws(
      () => loadConfig([...base, "--runtime", "firecracker", "--simulated-boot-ms=-1"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--runtime \(TURGON_AGENT_RUNTIME\)/.test(error.message) &&
        /--simulated-boot-ms \(TURGON_AGENT_SIMULATED_BOOT_MS\)/.test(error.message),
    );
  });

  it("turns free page reporting off only by name, naming the flag for anything else", () => {
    assert.equal(
      loadConfig([...base, "--free-page-reporting", "false"], {})["free-page-reporting"],
      false,
    );
    assert.throws(
      () => loadConfig([...base], { TURGON_AGENT_FREE_PAGE_REPORTING: "off" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--free-page-reporting \(TURGON_AGENT_FREE_PAGE_REPORTING\)/.test(error.message),
    );
  });

  it("names the flag and its variable for a bad value", () => {
    assert.throws(
      () => loadConfig([...base, "--api-port", "70000", "--accelerator", "fast"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--api-port \(TURGON_AGENT_API_PORT\)/.test(error.message) &&
        /--accelerator \(TURGON_AGENT_ACCELERATOR\)/.test(error.message),
    );
    assert.throws(
      () => loadConfig([...base, "--node-name", "Not_A_Label"], {}),
      /--node-name .*DNS-1123/,
    );
    assert.throws(
      () => loadConfig([...base, "--redis-url", "http://x"], {}),
      /--redis-url .*redis:\/\//,
    );
  });

  it("overcommits vCPUs by --cpu-allocation-ratio: 4 by default, any positive number", () => {
    assert.equal(loadConfig(base, {})["cpu-allocation-ratio"], 4);
    assert.equal(
      loadConfig(base, { TURGON_AGENT_CPU_ALLOCATION_RATIO: "1.5" })["cpu-allocation-ratio"],
      1.5,
    );
    assert.equal(
      loadConfig([...base, "--cpu-allocation-ratio", "1"], {})["cpu-allocation-ratio"],
      1,
    );
    for (const bad of ["0", "-2", "many", "65"])
      assert.throws(
        () => loadConfig([...base, `--cpu-allocation-ratio=${bad}`], {}),
        (error: unknown) =>
          error instanceof ConfigError &&
          /--cpu-allocation-ratio \(TURGON_AGENT_CPU_ALLOCATION_RATIO\)/.test(error.message),
        bad,
      );
  });

  it("refuses unknown flags; an --insecure agent requires a token file", () => {
    assert.throws(() => loadConfig([...base, "--colour", "blue"], {}), /Unknown option '--colour'/);
    assert.throws(
      () => loadConfig(["--node-name", "kvm-1", "--insecure", "true"], {}),
      /--token-file \(TURGON_AGENT_TOKEN_FILE\)/,
    );
  });

  it("reads the platform's CIDRs and trusted resolvers as lists, naming a bad entry's flag", () => {
    const config = loadConfig(
      [
        ...base,
        "--platform-cidrs",
        "10.96.0.0/12, fd00:10::/64",
        "--dns-trusted-servers",
        "10.0.0.10",
      ],
      {},
    );
    assert.deepEqual(config["platform-cidrs"], ["10.96.0.0/12", "fd00:10::/64"]);
    assert.deepEqual(config["dns-trusted-servers"], ["10.0.0.10"]);
    assert.deepEqual(loadConfig(base, {})["platform-cidrs"], []);
    assert.throws(
      () =>
        loadConfig(
          [...base, "--platform-cidrs", "10.0.0.0/99", "--dns-trusted-servers", "::1"],
          {},
        ),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--platform-cidrs \(TURGON_AGENT_PLATFORM_CIDRS\): must be CIDRs/.test(error.message) &&
        /--dns-trusted-servers \(TURGON_AGENT_DNS_TRUSTED_SERVERS\): must be IPv4 addresses/.test(
          error.message,
        ),
    );
  });

  it("takes --front-ports as FIRST-LAST or ephemeral (the default), at least --max-vms ports", () => {
    assert.equal(loadConfig(base, {})["front-ports"], "ephemeral");
    assert.deepEqual(loadConfig([...base, "--front-ports", "41000-41999"], {})["front-ports"], {
      first: 41000,
      last: 41999,
    });
    assert.deepEqual(
      loadConfig([...base, "--max-vms", "2"], { TURGON_AGENT_FRONT_PORTS: "5000-5001" })[
        "front-ports"
      ],
      { first: 5000, last: 5001 },
    );
    for (const bad of ["41999-41000", "0-10", "1-70000", "41000", "41000-", "a-b", "41000 - 41999"])
      assert.throws(
        () => loadConfig([...base, "--front-ports", bad], {}),
        (error: unknown) =>
          error instanceof ConfigError &&
          /--front-ports \(TURGON_AGENT_FRONT_PORTS\).*FIRST-LAST/.test(error.message),
        bad,
      );
    assert.throws(
      () => loadConfig([...base, "--front-ports", "41000-41009", "--max-vms", "16"], {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--front-ports .*holds 10 ports, fewer than --max-vms 16/.test(error.message),
    );
  });
});
