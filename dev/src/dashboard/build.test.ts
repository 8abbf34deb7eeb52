import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { dashboardInputsDigest } from "./build.ts";

async function put(root: string, path: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
}

describe("the dashboard build's cache key", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function checkout(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), "turgon-digest-"));
    dirs.push(root);
    await put(root, "package-lock.json", "{}");
    await put(root, "web/src/app/page.tsx", "export default 1;");
    await put(root, "web/next.config.ts", "export default {};");
    await put(root, "prisma/schema.prisma", "model User {}");
    await put(root, "api/src/index.ts", "export {};");
    return root;
  }

  it("is the same in another clone of the same sources, build output and tests aside", async () => {
    const a = await checkout();
    const b = await checkout();
    // What a working checkout has and a fresh clone has not: none of it is an input.
    await put(b, "web/.next/standalone/web/server.js", "built");
    await put(b, "web/next-env.d.ts", "/// <reference types='next' />");
    await put(b, "web/node_modules/x/index.js", "");
    await put(b, "web/src/lib/thing.test.ts", "test");
    await put(b, "web/deploy/rbac.yaml", "kind: Role");
    await put(b, "web/bench/terminal.ts", "await bench();");
    await put(b, "prisma/generated/client/client.ts", "generated");
    assert.equal(await dashboardInputsDigest(a), await dashboardInputsDigest(b));
  });

  it("changes with a source, the schema or the lockfile", async () => {
    const root = await checkout();
    const seen = new Set([await dashboardInputsDigest(root)]);
    for (const [path, text] of [
      ["web/src/app/page.tsx", "export default 2;"],
      ["prisma/schema.prisma", "model Team {}"],
      ["package-lock.json", '{"v":2}'],
      ["web/src/app/new/page.tsx", "export default 3;"],
    ] as const) {
      await put(root, path, text);
      const digest = await dashboardInputsDigest(root);
      assert.ok(!seen.has(digest), `${path} changes the key`);
      seen.add(digest);
    }
  });
});
