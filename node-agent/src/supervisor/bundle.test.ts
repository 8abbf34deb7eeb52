/**
 * The supervisor bundle without a VM: it builds (content-addressed, found
 * again rather than rewritten), a supervisor started from it answers (a
 * suspended sandbox boots nothing), a build that fails leaves supervisors
 * on `main.ts`, and a starting agent re-adopts supervisors of either entry.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { DesiredSandbox } from "@turgon/api/agent";
import { logger } from "../logger.ts";
import { SandboxManager, type SupervisionSettings } from "../sandboxes/manager.ts";
import {
  buildSupervisorBundle,
  resolveSupervisorEntry,
  SUPERVISOR_BUNDLE_DIR,
  SUPERVISOR_SOURCE_ENTRY,
  SupervisorBundleError,
  SupervisorEntry,
} from "./bundle.ts";
import { supervisorSpoolDir } from "./config.ts";
import { isSupervisor, supervisorEntryIndex } from "./process-identity.ts";
import { stopSupervisors } from "./processes.ts";
import { SupervisedSandbox } from "./supervised.ts";

const log = logger.child({ test: "bundle" }, { level: "silent" });
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

describe("the supervisor bundle", () => {
  it("builds one ESM file named by its content, and finds it again instead of rewriting it", async () => {
    const first = await buildSupervisorBundle();
    assert.equal(dirname(first.path), SUPERVISOR_BUNDLE_DIR.replace(/\/$/, ""));
    assert.match(basename(first.path), /^turgon-supervisor\.[0-9a-f]{16}\.mjs$/);
    assert.equal(supervisorEntryIndex(`node\0${first.path}\0{}`), 1, "recognised as an entry");
    const again = await buildSupervisorBundle();
    assert.equal(again.path, first.path, "the same sources give the same bytes");
    assert.equal(again.written, false);
    const code = await readFile(first.path, "utf8");
    // Our workspace code is inside; npm packages are imported, not inlined.
    assert.match(code, /node-agent\/src\/supervisor\/server\.ts/);
    assert.doesNotMatch(code, /from "@turgon\//);
    assert.match(code, /from "zod"/);
    assert.equal((await stat(first.path)).size, first.bytes);
  });

  it("builds again when the bundle it gave is gone (pruned by an agent of newer sources)", async () => {
    // Inside the checkout, where its npm packages resolve.
    await mkdir(SUPERVISOR_BUNDLE_DIR, { recursive: true });
    const outDir = await mkdtemp(join(SUPERVISOR_BUNDLE_DIR, "..", "test-"));
    closers.push(() => rm(outDir, { recursive: true, force: true }));
    let builds = 0;
    const entries = new SupervisorEntry(log, () => {
      builds++;
      return buildSupervisorBundle({ outDir });
    });
    const first = await entries.get();
    assert.equal(dirname(first), outDir);
    assert.equal(await entries.get(), first);
    assert.equal(builds, 1, "built once while it is there");
    await rm(first);
    assert.equal(await entries.get(), first, "the same content, the same name");
    assert.equal(builds, 2);
    assert.ok((await stat(first)).isFile(), "written again");
  });

  it("fails with a typed error on a broken entry, and then the supervisors run main.ts", async () => {
    const outDir = await mkdtemp(join(tmpdir(), "turgon-bundle-unit-"));
    closers.push(() => rm(outDir, { recursive: true, force: true }));
    await assert.rejects(
      buildSupervisorBundle({ outDir, entry: join(outDir, "missing.ts") }),
      SupervisorBundleError,
    );
    assert.deepEqual(await readdir(outDir), [], "nothing written");
    // Outside the checkout its npm packages would not resolve: refused, naming one.
    await assert.rejects(buildSupervisorBundle({ outDir }), (error: Error) => {
      assert.ok(error instanceof SupervisorBundleError);
      assert.match(error.message, /is \/\S+ there but not installed from the bundle's directory/);
      return true;
    });
    assert.deepEqual(await readdir(outDir), [], "nothing written");
    const warnings: unknown[] = [];
    const entry = await resolveSupervisorEntry(
      Object.assign(Object.create(log), {
        warn: (...args: unknown[]) => warnings.push(args),
        info: () => {},
      }),
      () => buildSupervisorBundle({ outDir, entry: join(outDir, "missing.ts") }),
    );
    assert.equal(entry, SUPERVISOR_SOURCE_ENTRY);
    assert.equal(warnings.length, 1, "one warning says why");
  });
});

describe("supervisors from the bundle and from main.ts (suspended sandboxes, no VM)", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-bundle-unit-"));
  closers.push(async () => {
    await stopSupervisors(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });
  const supervision = (entry?: string): SupervisionSettings => ({
    stateDir,
    spoolDirOf: (uid) => supervisorSpoolDir(join(stateDir, "spool"), uid),
    spoolMaxMiB: 8,
    version: "test",
    vm: {
      nodeName: "bundle-test",
      accelerator: "auto",
      tcgTranslationCacheMiB: 64,
      ingressHeaderTimeoutMs: 1000,
      platformCidrs: [],
    },
    ...(entry ? { entry } : {}),
  });
  const managerWith = (entry?: string) =>
    new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 8 },
      log,
      supervision: supervision(entry),
    });
  const suspended = (uid: string) =>
    DesiredSandbox.parse({
      uid,
      name: "bundle",
      namespace: "team-a",
      generation: 1,
      image: "img:test",
      resources: { cpus: 1, memoryMiB: 256 },
      operatingMode: "Suspended",
    });
  const cmdlineOf = (pid: number) => readFile(`/proc/${pid}/cmdline`, "utf8");

  it("starts a supervisor from the bundle by default, which answers hello", async () => {
    const { path } = await buildSupervisorBundle();
    const manager = managerWith();
    const uid = randomUUID();
    const { sandbox } = await manager.put(suspended(uid));
    assert.equal(sandbox.phase, "Suspended", JSON.stringify(sandbox));
    const handle = manager.get(uid);
    assert.ok(handle instanceof SupervisedSandbox);
    const pid = handle.supervisorPid();
    assert.ok(pid);
    const args = (await cmdlineOf(pid)).split("\0");
    assert.equal(args[supervisorEntryIndex(args.join("\0"))], path, "run from the bundle");
    assert.equal(await isSupervisor(pid, uid), true);
    await manager.delete(uid);
    assert.equal(await isSupervisor(pid, uid), false, "gone");
  });

  it("re-adopts a supervisor started from main.ts (an older build) and one from the bundle", async () => {
    const { path } = await buildSupervisorBundle();
    const fromSource = randomUUID();
    const fromBundle = randomUUID();
    const old = managerWith(SUPERVISOR_SOURCE_ENTRY);
    await old.put(suspended(fromSource));
    await old.detachAll();
    const current = managerWith(path);
    await current.put(suspended(fromBundle));
    await current.detachAll();

    const starting = managerWith();
    const { adopted } = await starting.adopt();
    assert.deepEqual([...adopted].sort(), [fromBundle, fromSource].sort());
    for (const [uid, entry] of [
      [fromSource, SUPERVISOR_SOURCE_ENTRY],
      [fromBundle, path],
    ] as const) {
      const handle = starting.get(uid);
      assert.ok(handle instanceof SupervisedSandbox);
      assert.equal(handle.observe().phase, "Suspended");
      const pid = handle.supervisorPid();
      assert.ok(pid);
      assert.ok((await cmdlineOf(pid)).split("\0").includes(entry), `${uid} runs ${entry}`);
      assert.equal(await isSupervisor(pid, uid), true);
    }
    await starting.stopAll();
    for (const uid of [fromSource, fromBundle]) assert.equal(starting.get(uid), undefined);
  });
});
