import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../flags.ts";
import { createLogger } from "../logger.ts";
import { LOG_LEVELS, logLevelFromEnv } from "./log-level.ts";

describe("TURGON_LOG_LEVEL", () => {
  it("is info when unset or empty, and takes pino's levels", () => {
    assert.equal(logLevelFromEnv({}), "info");
    assert.equal(logLevelFromEnv({ TURGON_LOG_LEVEL: "" }), "info");
    for (const level of LOG_LEVELS)
      assert.equal(logLevelFromEnv({ TURGON_LOG_LEVEL: level }), level);
  });

  it("refuses anything else naming the variable and the levels", () => {
    assert.throws(
      () => logLevelFromEnv({ TURGON_LOG_LEVEL: "INFO" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          'TURGON_LOG_LEVEL="INFO" is not a log level: use one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it("does not break creating a logger at import (the daemon refuses it later)", () => {
    const saved = process.env.TURGON_LOG_LEVEL;
    process.env.TURGON_LOG_LEVEL = "nonsense";
    try {
      assert.equal(createLogger("demo").level, "info");
    } finally {
      if (saved === undefined) delete process.env.TURGON_LOG_LEVEL;
      else process.env.TURGON_LOG_LEVEL = saved;
    }
  });
});
