import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { ConfigError, FlagFileError, loadFlags, readFlagFile } from "./flags.ts";

const FLAGS = {
  name: { env: "TURGON_X_NAME", description: "a name" },
  workers: { env: "TURGON_X_WORKERS", description: "how many" },
  mode: { env: "TURGON_X_MODE", description: "a or b" },
};
const schema = z.strictObject({
  name: z.string().min(1),
  workers: z.coerce.number().int().min(1).default(4),
  mode: z.enum(["a", "b"]).default("a"),
});
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  loadFlags({ command: "turgon-x", flags: FLAGS, schema, argv, env });
const problems = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  try {
    load(argv, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail("accepted");
};

describe("loadFlags", () => {
  it("reads flags over environment over defaults", () => {
    assert.deepEqual(load(["--name", "n"], { TURGON_X_WORKERS: "2" }), {
      name: "n",
      workers: 2,
      mode: "a",
    });
    assert.equal(load(["--name", "n", "--workers", "8"], { TURGON_X_WORKERS: "2" }).workers, 8);
  });

  it("says a missing flag is required and a bad number must be a number, in plain words", () => {
    assert.equal(problems([]), "invalid configuration:\n  --name (TURGON_X_NAME) is required");
    assert.match(
      problems(["--name", "n", "--workers", "many"]),
      /^ {2}--workers \(TURGON_X_WORKERS\) must be a number$/m,
    );
    assert.match(
      problems(["--name", "n"], { TURGON_X_WORKERS: "1.5" }),
      /--workers \(TURGON_X_WORKERS\) must be a whole number/,
    );
    assert.doesNotMatch(problems(["--workers", "x"]), /expected|received|NaN/);
  });

  it("keeps the schema's own message for other problems, after the flag's name", () => {
    assert.match(
      problems(["--name", "n", "--workers", "0"]),
      /--workers \(TURGON_X_WORKERS\): Too small/,
    );
    assert.match(problems(["--name", "n", "--mode", "c"]), /--mode \(TURGON_X_MODE\): /);
  });

  it("refuses unknown flags with the usage", () => {
    assert.match(problems(["--nope", "1"]), /Unknown option '--nope'[\s\S]*turgon-x \[flags\]/);
  });

  it("an unreadable file named by a flag is a configuration error naming the flag", async () => {
    await assert.rejects(readFlagFile("token-file", "/nonexistent/token"), (error: unknown) => {
      assert.ok(error instanceof FlagFileError && error instanceof ConfigError);
      assert.match(error.message, /^--token-file \/nonexistent\/token: ENOENT/);
      return true;
    });
  });
});
