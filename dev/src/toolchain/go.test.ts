import assert from "node:assert/strict";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GoBuildError, ToolMissingError } from "@turgon/toolkit/errors";
import { step } from "@turgon/toolkit/progress";
import { commandExists, run } from "@turgon/toolkit/run";
import { ensureEtcdBinary } from "./etcd.ts";
import { buildGoBinaries, buildGroups } from "./go.ts";
import { ensureKubernetesBinaries } from "./kubernetes.ts";

/**
 * A PATH of one directory that holds only `sh`, so Go cannot be on it
 * whatever the machine has installed where: any attempt to build fails
 * with ToolMissingError.
 */
const noGoDir = await mkdtemp(join(tmpdir(), "turgon-no-go-"));
await symlink("/bin/sh", join(noGoDir, "sh"));
const NO_GO_ENV = { ...process.env, PATH: noGoDir };

describe("Go builds", () => {
  const dirs: string[] = [noGoDir];
  const scratch = async () => {
    const dir = await mkdtemp(join(tmpdir(), "turgon-go-"));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("builds a main package of a wrapper module", async () => {
    const dir = await scratch();
    const spec = {
      module: "turgon.dev/test/hello",
      goVersion: "1.24",
      requires: [],
      replaces: [],
      files: {
        "main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from go") }\n',
      },
    };
    await buildGoBinaries(
      spec,
      [{ pkg: ".", name: "hello" }],
      join(dir, "src"),
      join(dir, "bin"),
      step("test build"),
    );
    const result = await run(join(dir, "bin", "hello"), []);
    assert.equal(result.stdout.trim(), "hello from go");
  });

  it("builds several main packages in one go build, each stamped", async () => {
    const dir = await scratch();
    const main = (word: string) =>
      `package main\n\nimport "fmt"\n\nvar stamp = "unset"\n\nfunc main() { fmt.Println("${word}", stamp) }\n`;
    const stamped = (name: string) => ({
      pkg: `turgon.dev/test/multi/cmd/${name}`,
      name,
      linkerVariables: { "main.stamp": "v9" },
    });
    const binaries = [stamped("one"), stamped("two")];
    assert.equal(buildGroups(binaries).length, 1, "one go build for both");
    await buildGoBinaries(
      {
        module: "turgon.dev/test/multi",
        goVersion: "1.24",
        requires: [],
        replaces: [],
        files: { "cmd/one/main.go": main("one"), "cmd/two/main.go": main("two") },
      },
      binaries,
      join(dir, "src"),
      join(dir, "bin"),
      step("multi build"),
    );
    for (const name of ["one", "two"]) {
      const result = await run(join(dir, "bin", name), []);
      assert.equal(result.stdout.trim(), `${name} v9`);
    }
  });

  it("builds apart what cannot share a go build: other stamps, or a name go would not give", () => {
    const groups = buildGroups([
      { pkg: "example.com/cmd/a", name: "a", linkerVariables: { "x.v": "1" } },
      { pkg: "example.com/cmd/b", name: "b", linkerVariables: { "x.v": "1" } },
      { pkg: "example.com/cmd/c", name: "c", linkerVariables: { "x.v": "2" } },
      { pkg: ".", name: "etcd" },
    ]);
    assert.deepEqual(
      groups.map((g) => g.binaries.map((b) => b.name)),
      [["a", "b"], ["c"], ["etcd"]],
    );
    assert.deepEqual(
      groups.map((g) => g.output("/out")),
      ["/out/", "/out/c", "/out/etcd"],
    );
    assert.equal(groups[0]?.stamps, "-X 'x.v=1'");
  });

  it("reports a failing build with the compiler's output and what to do", async () => {
    const dir = await scratch();
    const spec = {
      module: "turgon.dev/test/broken",
      goVersion: "1.24",
      requires: [],
      replaces: [],
      files: { "main.go": "package main\n\nfunc main() { undefinedFunction() }\n" },
    };
    await assert.rejects(
      buildGoBinaries(
        spec,
        [{ pkg: ".", name: "broken" }],
        join(dir, "src"),
        join(dir, "bin"),
        step("broken build"),
      ),
      (error: unknown) => {
        assert.ok(error instanceof GoBuildError);
        assert.match(error.message, /go build \. failed/);
        assert.match(error.outputTail, /undefined: undefinedFunction/);
        assert.match(error.hint, /go version/);
        return true;
      },
    );
  });

  it("says Go is missing instead of failing obscurely", async () => {
    assert.equal(await commandExists("go", NO_GO_ENV), false, "no Go on the test's PATH");
    assert.equal(await commandExists("sh", NO_GO_ENV), true, "but the shell that looks for it");
    const dir = await scratch();
    await assert.rejects(
      buildGoBinaries(
        { module: "turgon.dev/test/x", goVersion: "1.24", requires: [], replaces: [] },
        [{ pkg: ".", name: "x" }],
        join(dir, "src"),
        join(dir, "bin"),
        step("no go"),
        NO_GO_ENV,
      ),
      (error: unknown) =>
        error instanceof ToolMissingError && error.tool === "go" && /Go 1\.24/.test(error.hint),
    );
  });

  it("reuses the cached kube-apiserver, kube-controller-manager, kubectl and etcd without Go on PATH", async () => {
    // The global setup built or found them; a second run must not rebuild,
    // which it could not do here without Go.
    const kube = await ensureKubernetesBinaries(NO_GO_ENV);
    const etcd = await ensureEtcdBinary(NO_GO_ENV);
    const version = await run(kube.kubectl, ["version", "--client", "-o", "json"]);
    assert.equal(JSON.parse(version.stdout).clientVersion.gitVersion, "v1.34.4");
    const controllerManager = await run(kube.kubeControllerManager, ["--version"]);
    assert.equal(controllerManager.stdout.trim(), "Kubernetes v1.34.4");
    const etcdVersion = await run(etcd, ["--version"]);
    assert.match(etcdVersion.stdout, /etcd Version: 3\.6\.16/);
  });
});
