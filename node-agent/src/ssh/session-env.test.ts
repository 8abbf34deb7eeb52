/** The env script SSH sessions source, read back by real shells (dash and bash) on this host. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { envScript, shellQuote } from "./session-env.ts";

const TRICKY = {
  GREETING: `it's "quoted" $HOME \`id\` $(id) \\n back\\slash\nsecond line\ttab %s ✓`,
  EMPTY: "",
  TRAILING: "ends with a newline\n",
  API_TOKEN: "GONDOLIN_SECRET_placeholder'$x",
};

/** Sources the script in `shell` with an empty environment and prints the named variables NUL-separated. */
function readBack(shell: string, script: string, names: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "turgon-session-env-"));
  try {
    writeFileSync(join(dir, "env.sh"), script);
    const out = execFileSync(
      shell,
      [
        "-c",
        `. "$1"; shift; for n in "$@"; do eval "printf '%s\\0' \\"\\$$n\\""; done`,
        "sh",
      ].concat(join(dir, "env.sh"), names),
      { env: {}, encoding: "utf8" },
    );
    return out.split("\0").slice(0, -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("session env script", () => {
  for (const shell of ["/bin/sh", "/bin/bash"]) {
    it(`round-trips quotes, $, backquotes, backslashes and newlines verbatim in ${shell}`, () => {
      const names = Object.keys(TRICKY);
      assert.deepEqual(
        readBack(shell, envScript(TRICKY), names),
        names.map((n) => TRICKY[n as keyof typeof TRICKY]),
      );
    });
  }

  it("exports each name once, sorted, single-quoted", () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
    const lines = envScript({ B: "2", A: "1" }).split("\n");
    assert.deepEqual(lines.slice(1), ["export A='1'", "export B='2'", ""]);
  });
});
