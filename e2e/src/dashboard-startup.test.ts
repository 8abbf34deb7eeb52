/**
 * The dashboard refuses to start, naming what to fix, when its
 * configuration is wrong: the built server spawned as `npm run up` and a
 * pod run it, with nothing listening anywhere it would connect to.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { type DashboardBuild, ensureDashboardBuild } from "@turgon/dev/dashboard";
import { freePort } from "@turgon/dev/ports";

const run = promisify(execFile);

describe("the dashboard's start-up (spawned)", () => {
  let build: DashboardBuild;
  let dir: string;
  let port: number;

  before(async () => {
    build = await ensureDashboardBuild();
    dir = await mkdtemp(join(tmpdir(), "turgon-dashboard-startup-"));
    port = await freePort();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Starts the server with exactly `env` (and what Next.js needs); resolves with how it ended. */
  const start = (env: Record<string, string>) =>
    run(process.execPath, [build.serverJs], {
      cwd: build.dir,
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? "",
        // No ~/.kube/config to fall back on, were the dashboard to look for one.
        HOME: dir,
        NODE_ENV: "production",
        NEXT_TELEMETRY_DISABLED: "1",
        HOSTNAME: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: "postgresql://turgon@127.0.0.1:1/turgon",
        BETTER_AUTH_SECRET: "0123456789abcdef0123456789abcdef",
        BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
        ...env,
      },
    }).then(
      ({ stdout, stderr }) => assert.fail(`it started and ended on its own:\n${stdout}\n${stderr}`),
      (error: { code: number | null; signal: string | null; stderr: string }) => error,
    );

  it("outside a pod with no KUBECONFIG, says what to set and exits 1, instead of https://undefined:undefined", async () => {
    const ended = await start({});
    assert.equal(ended.signal, null, `it was killed (still running after 60 s?):\n${ended.stderr}`);
    assert.equal(ended.code, 1, ended.stderr);
    assert.match(
      ended.stderr,
      /^error: no Kubernetes configuration: KUBECONFIG is not set, and this is not a pod .*; set KUBECONFIG to a kubeconfig file, or run in the cluster as its ServiceAccount \(turgon-system\/turgon-web\)$/m,
    );
    assert.doesNotMatch(ended.stderr, /undefined:undefined/);
  });

  it("names an unreadable KUBECONFIG", async () => {
    const file = join(dir, "no-such.kubeconfig");
    const ended = await start({ KUBECONFIG: file });
    assert.equal(ended.code, 1, ended.stderr);
    assert.match(
      ended.stderr,
      new RegExp(`^error: KUBECONFIG ${file} cannot be read: ENOENT`, "m"),
    );
  });

  it("refuses the retired TURGON_INGRESS_* variables, saying where the edge's facts come from", async () => {
    const ended = await start({ TURGON_INGRESS_PORT: "18080" });
    assert.equal(ended.code, 1, ended.stderr);
    assert.match(
      ended.stderr,
      /TURGON_INGRESS_PORT: is no longer read: the edge's domain, scheme and port come from the edge ConfigMap \(TURGON_EDGE_CONFIG, default turgon-system\/turgon-edge\); unset it/,
    );
  });
});
