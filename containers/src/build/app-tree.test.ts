import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { DevError } from "@turgon/toolkit/errors";
import { runtimeSpecifiers, splitSpecifier, traceAppTree } from "./app-tree.ts";

async function plant(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

describe("runtimeSpecifiers", () => {
  it("finds static, re-exported, side-effect and dynamic imports, and skips type-only ones", () => {
    const source = [
      'import { a, type B } from "./a.ts";',
      'import type { C } from "only-types";',
      'export type { D } from "./d.ts";',
      'import {\n  e,\n  f,\n} from "@scope/pkg/sub";',
      'export * from "./star.ts";',
      'import "./side-effect.ts";',
      'const g = await import("dynamic");',
      'import { readFile } from "node:fs/promises";',
    ].join("\n");
    assert.deepEqual(runtimeSpecifiers(source).sort(), [
      "./a.ts",
      "./side-effect.ts",
      "./star.ts",
      "@scope/pkg/sub",
      "dynamic",
      "node:fs/promises",
    ]);
  });

  it("splits package names from subpaths", () => {
    assert.deepEqual(splitSpecifier("@scope/pkg/sub/x"), ["@scope/pkg", "./sub/x"]);
    assert.deepEqual(splitSpecifier("pkg"), ["pkg", "."]);
  });
});

describe("traceAppTree", () => {
  it("takes the reached modules, workspace links and npm packages with their dependencies, and nothing else", async () => {
    const root = await mkdtemp(join(tmpdir(), "turgon-app-tree-"));
    try {
      await plant(root, {
        "package.json": JSON.stringify({ workspaces: ["app", "lib"] }),
        "app/package.json": JSON.stringify({ name: "@t/app" }),
        "app/src/main.ts":
          'import { x } from "@t/lib/x";\nimport type { T } from "unused";\nimport "./local.ts";\n',
        "app/src/local.ts": 'import pino from "pino";\n',
        "app/src/unreached.ts": 'import "never";\n',
        "lib/package.json": JSON.stringify({ name: "@t/lib", exports: { "./x": "./src/x.ts" } }),
        "lib/src/x.ts": "export const x = 1;\n",
        "node_modules/pino/package.json": JSON.stringify({
          dependencies: { "sonic-boom": "1" },
          optionalDependencies: { "not-here": "1" },
        }),
        "node_modules/pino/node_modules/sonic-boom/package.json": "{}",
        "node_modules/unused/package.json": "{}",
      });
      await mkdir(join(root, "node_modules/@t"), { recursive: true });
      await symlink("../../lib", join(root, "node_modules/@t/lib"));
      const tree = await traceAppTree(root, ["app/src/main.ts"]);
      assert.deepEqual([...tree.files].sort(), [
        "app/package.json",
        "app/src/local.ts",
        "app/src/main.ts",
        "lib/package.json",
        "lib/src/x.ts",
      ]);
      assert.deepEqual([...tree.packages].sort(), [
        "node_modules/pino",
        "node_modules/pino/node_modules/sonic-boom",
      ]);
      assert.deepEqual([...tree.links].sort(), [
        ["node_modules/@t/app", "../../app"],
        ["node_modules/@t/lib", "../../lib"],
      ]);

      await plant(root, { "app/src/bad.ts": 'import "missing-package";\n' });
      await assert.rejects(traceAppTree(root, ["app/src/bad.ts"]), (error: unknown) => {
        assert.ok(error instanceof DevError);
        assert.match(
          error.message,
          /app\/src\/bad\.ts imports missing-package, which is not installed/,
        );
        return true;
      });
      await assert.rejects(
        traceAppTree(root, ["app/src/gone.ts"]),
        /app\/src\/gone\.ts is imported but cannot be read/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
