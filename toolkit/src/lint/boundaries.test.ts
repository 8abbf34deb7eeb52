/**
 * The module boundaries `npm run lint` checks (.dependency-cruiser.cjs)
 * fail on a planted violation of each rule, and pass a tree that keeps
 * them. The planted tree is written to a scratch directory, so it never
 * enters the real lint's scope.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run } from "../process/run.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs");
const WORKSPACES = ["api", "operator", "router", "node-agent", "images", "guest", "web"];

/** Writes `files` (path → source) under `dir`. */
async function plant(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, source] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), source);
  }
}

/**
 * Runs the real rules over `dir` as `npm run lint` does (the `err` report):
 * its exit code and each violation as `rule: from`.
 */
async function cruise(dir: string): Promise<{ exitCode: number | null; violations: string[] }> {
  const result = await run(process.execPath, [DEPCRUISE, "--config", CONFIG, ...WORKSPACES], {
    cwd: dir,
  });
  const violations = [...result.stdout.matchAll(/^\s*error (\S+): (\S+) → /gm)].map(
    ([, rule, from]) => `${rule}: ${from}`,
  );
  assert.match(result.stdout, /dependencies cruised/, `depcruise did not run:\n${result.tail}`);
  return { exitCode: result.exitCode, violations: violations.sort() };
}

/** A tree that keeps every rule: workspaces reach each other by package name and exports only. */
const COMPLIANT: Record<string, string> = {
  "web/tsconfig.json": "{}",
  "api/package.json": JSON.stringify({ name: "@turgon/api", exports: { "./crd": "./src/crd.ts" } }),
  "api/src/crd.ts": "export const GROUP = 'turgon.dev';\n",
  "operator/src/logger.ts": "export const logger = 1;\n",
  "router/src/router.ts": "import { GROUP } from '@turgon/api/crd';\nexport const g = GROUP;\n",
  "operator/package.json": JSON.stringify({
    name: "@turgon/operator",
    exports: { "./testing": "./src/testing.ts" },
  }),
  "router/src/router.test.ts":
    "import { startStack } from '@turgon/operator/testing';\nstartStack();\n",
  "operator/src/testing.ts": "export function startStack() {}\n",
  "image-store/src/store.ts": "export const store = 1;\n",
  "image-store/package.json": JSON.stringify({
    name: "@turgon/image-store",
    exports: { ".": "./src/store.ts" },
  }),
  "images/src/build/index.ts": "export const build = 1;\n",
  "guest/src/build.ts": "export const zig = 1;\n",
  "images/package.json": JSON.stringify({
    name: "@turgon/images",
    exports: { "./build": "./src/build/index.ts" },
  }),
  "node-agent/package.json": JSON.stringify({ name: "@turgon/node-agent" }),
  "node-agent/src/vm/launcher.ts":
    "import { store } from '@turgon/image-store';\nexport const s = store;\n",
  "web/src/page.ts": "import { GROUP } from '@turgon/api/crd';\nexport const g = GROUP;\n",
};

describe("module boundaries (dependency-cruiser)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-boundaries-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const tree = async (name: string, files: Record<string, string>) => {
    const root = join(dir, name);
    await plant(root, { ...COMPLIANT, ...files });
    await mkdir(join(root, "node_modules/@turgon"), { recursive: true });
    for (const workspace of ["api", "operator", "images", "image-store", "node-agent"])
      await symlink(`../../${workspace}`, join(root, `node_modules/@turgon/${workspace}`));
    return root;
  };

  it("passes a tree that keeps every rule", { timeout: 60_000 }, async () => {
    const { exitCode, violations } = await cruise(await tree("compliant", {}));
    assert.deepEqual(violations, []);
    assert.equal(exitCode, 0);
  });

  it("fails on a planted violation of each rule, naming the rule", {
    timeout: 60_000,
  }, async () => {
    const root = await tree("violations", {
      // A cycle.
      "api/src/a.ts": "import { b } from './b.ts';\nexport const a = () => b;\n",
      "api/src/b.ts": "import { a } from './a.ts';\nexport const b = () => a;\n",
      // Another workspace's src by path, and by package name past its exports.
      "operator/src/deep.ts":
        "import { GROUP } from '../../api/src/crd.ts';\nexport const g = GROUP;\n",
      "operator/src/past-exports.ts":
        "import { GROUP } from '@turgon/api/src/crd.ts';\nexport const g = GROUP;\n",
      // The router in the operator's internals, and back.
      "router/src/proxy.ts":
        "import { logger } from '../../operator/src/logger.ts';\nexport const l = logger;\n",
      "router/src/proxy.test.ts":
        "import { logger } from '../../operator/src/logger.ts';\nexport const l = logger;\n",
      "operator/src/uses-router.ts":
        "import { g } from '../../router/src/router.ts';\nexport const r = g;\n",
      // The node agent reaching image building, through a module of its own.
      "node-agent/src/vm/images.ts":
        "import { build } from '@turgon/images/build';\nexport const b = build;\n",
      "node-agent/src/vm/boot.ts": "import { b } from './images.ts';\nexport const x = b;\n",
      // The dashboard importing a daemon.
      "web/src/server/agent.ts":
        "import { s } from '@turgon/node-agent/src/vm/launcher.ts';\nexport const x = s;\n",
    });
    const { exitCode, violations } = await cruise(root);
    assert.notEqual(exitCode, 0);
    const found = violations;
    const expect = (rule: string, from: string) =>
      assert.ok(
        found.includes(`${rule}: ${from}`),
        `${rule} from ${from} not in:\n${found.join("\n")}`,
      );
    expect("no-circular", "api/src/a.ts");
    expect("no-reach-into-workspace-src", "operator/src/deep.ts");
    expect("no-unresolvable", "operator/src/past-exports.ts");
    expect("router-not-operator", "router/src/proxy.ts");
    expect("router-tests-only-operator-testing", "router/src/proxy.test.ts");
    expect("operator-not-router", "operator/src/uses-router.ts");
    expect("node-agent-not-image-building", "node-agent/src/vm/boot.ts");
    expect("web-not-daemons", "web/src/server/agent.ts");
    // The compliant files alongside stay clean.
    assert.ok(!found.some((f) => f.endsWith("router/src/router.test.ts")), found.join("\n"));
  });
});
