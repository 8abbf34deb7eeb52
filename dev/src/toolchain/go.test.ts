import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GoBuildError, ToolMissingError } from "@turgon/toolkit/errors";
import { step } from "@turgon/toolkit/progress";
import { run } from "@turgon/toolkit/run";
import { ensureEtcdBinary } from "./etcd.ts";
import { buildGoBinaries } from "./go.ts";
import { ensureKubernetesBinaries } from "./kubernetes.ts";

/** PATH with no Go on it: any attempt to build would fail with ToolMissingError. */
const NO_GO_ENV = { ...process.env, PATH: "/usr/bin:/bin" };

describe("Go builds", () => {
  const dirs: string[] = [];
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

  it("reuses the cached kube-apiserver, kubectl and etcd without Go on PATH", async () => {
    // The global setup built or found them; a second run must not rebuild,
    // which it could not do here without Go.
    const kube = await ensureKubernetesBinaries(NO_GO_ENV);
    const etcd = await ensureEtcdBinary(NO_GO_ENV);
    const version = await run(kube.kubectl, ["version", "--client", "-o", "json"]);
    assert.equal(JSON.parse(version.stdout).clientVersion.gitVersion, "v1.34.4");
    const etcdVersion = await run(etcd, ["--version"]);
    assert.match(etcdVersion.stdout, /etcd Version: 3\.6\.16/);
  });
});
