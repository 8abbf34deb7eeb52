/**
 * Each component's OCI image, as the chart will run it: built (from the
 * cache when nothing changed), unpacked with umoci, its entrypoint run with
 * `--help` in the unpacked root (chroot, as the image's user), its labels
 * and user checked, and pushed to a registry of the test's own on a free
 * loopback port, whose manifest skopeo reads back.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "@turgon/dev/ports";
import {
  DEFAULT_REGISTRY_PORT,
  registryHost,
  registryPackage,
  startRegistry,
  stopRegistry,
} from "@turgon/dev/registry";
import { ensureDebianPackages } from "@turgon/toolkit/apt";
import { run } from "@turgon/toolkit/run";
import {
  APP_DIR,
  buildOciImage,
  COMPONENTS,
  gitRevision,
  IMAGES,
  NODE_PATH,
  repoRoot,
  repository,
  USER,
} from "./build/index.ts";
import { umoci } from "./build/oci.ts";
import { OCI_BUILDER_PACKAGES } from "./build/packages.ts";
import { inspectRemote, pushImage, remoteManifest } from "./publish/push.ts";
import { layoutConfig, layoutManifest, layoutSize } from "./publish/size.ts";

async function chartFacts() {
  const chart = await readFile(join(repoRoot, "charts/turgon/Chart.yaml"), "utf8");
  const values = await readFile(join(repoRoot, "charts/turgon/values.yaml"), "utf8");
  const helpers = await readFile(join(repoRoot, "charts/turgon/templates/_helpers.tpl"), "utf8");
  const pick = (text: string, pattern: RegExp, what: string) => {
    const found = text.match(pattern)?.[1];
    assert.ok(found, `${what} not found`);
    return found;
  };
  return {
    appVersion: pick(chart, /^appVersion:\s*"?([^"\s]+)"?/m, "Chart.yaml appVersion"),
    registry: pick(values, /^image:\n(?:\s+#.*\n)*\s+registry:\s*(\S+)/m, "values image.registry"),
    runAsUser: Number(pick(values, /^\s+runAsUser:\s*(\d+)/m, "values podSecurity.runAsUser")),
    runAsGroup: Number(pick(values, /^\s+runAsGroup:\s*(\d+)/m, "values podSecurity.runAsGroup")),
    imageFormat: pick(helpers, /printf "([^"]*turgon-%s[^"]*)"/, "the turgon.image helper"),
  };
}

const isRoot = process.getuid?.() === 0;

describe("OCI images", () => {
  let work: string;
  let registry: string;
  let registryDir: string;

  before(async () => {
    // Like the suite's network namespaces, these need root: a failure, not a silent skip.
    assert.ok(isRoot, "umoci unpack and chroot need root: run the tests as root");
    work = await mkdtemp(join(tmpdir(), "turgon-oci-test-"));
    registryDir = join(work, "registry");
    await ensureDebianPackages([...OCI_BUILDER_PACKAGES, registryPackage]);
    const port = await freePort();
    await startRegistry({ dir: registryDir, dataDir: join(registryDir, "data"), port });
    registry = registryHost(port);
  });

  after(async () => {
    if (registryDir) await stopRegistry(registryDir);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("the chart's image references are these images: <registry>/turgon-<component>:<appVersion>, run as their user", async () => {
    const chart = await chartFacts();
    assert.equal(chart.imageFormat, "%s/turgon-%s:%s");
    assert.equal(
      chart.registry,
      registryHost(DEFAULT_REGISTRY_PORT),
      "the chart's default is the local registry that npm run images:oci pushes to",
    );
    assert.equal(chart.runAsUser, USER.uid);
    assert.equal(chart.runAsGroup, USER.gid);
  });

  for (const component of COMPONENTS) {
    it(`${component}: unpacks, its entrypoint's --help prints the chart's appVersion as a non-root user, labelled, pushed and read back`, async () => {
      const chart = await chartFacts();
      const started = Date.now();
      const image = await buildOciImage(component, join(work, "layouts", component));
      const built = Date.now() - started;
      assert.equal(image.tag, chart.appVersion);

      const { config } = await layoutConfig(image.layout);
      assert.deepEqual(config.Entrypoint, IMAGES[component].entrypoint);
      assert.equal(config.User, `${USER.uid}:${USER.gid}`, "runs as the non-root user");
      assert.notEqual(USER.uid, 0);
      assert.ok(
        config.Env?.some((e) => /^PATH=.*\/usr\/local\/bin:/.test(e)),
        "PATH is set",
      );
      assert.ok(config.Env?.includes("HOME=/tmp"), "HOME is the pods' writable /tmp");
      const labels = config.Labels ?? {};
      assert.equal(labels["org.opencontainers.image.version"], chart.appVersion);
      assert.equal(labels["org.opencontainers.image.revision"], await gitRevision());
      assert.match(labels["org.opencontainers.image.source"] ?? "", /\S/);
      assert.equal(labels["org.opencontainers.image.title"], repository(component));

      const bundle = join(work, "bundles", component);
      await umoci("unpacking", ["unpack", "--image", `${image.layout}:${image.tag}`, bundle]);
      const runtime = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as {
        process: { args: string[]; user: { uid: number; gid: number } };
      };
      assert.deepEqual(runtime.process.user, { uid: USER.uid, gid: USER.gid });
      const help = await run("chroot", [
        `--userspec=${runtime.process.user.uid}:${runtime.process.user.gid}`,
        join(bundle, "rootfs"),
        ...runtime.process.args,
        "--help",
      ]);
      assert.equal(help.exitCode, 0, help.tail);
      const versionLine = help.stdout.trim().split("\n").at(-1) ?? "";
      assert.match(versionLine, /^turgon-[a-z-]+ \S+$/, help.stdout);
      assert.equal(versionLine.split(" ")[1], chart.appVersion);

      if (component === "node-agent") {
        // QEMU runs in the agent's container, as the agent's user.
        const qemu = await run("chroot", [
          `--userspec=${USER.uid}:${USER.gid}`,
          join(bundle, "rootfs"),
          "qemu-system-x86_64",
          "--version",
        ]);
        assert.equal(qemu.exitCode, 0, qemu.tail);
        assert.match(qemu.stdout, /QEMU emulator version/);

        // The supervisor bundle: the agent's build in the image (its esbuild binary, as the
        // agent's user, who cannot write there) gives the very file the image ships.
        const rootfs = join(bundle, "rootfs");
        const asAgent = (args: string[]) =>
          run("chroot", [`--userspec=${USER.uid}:${USER.gid}`, rootfs, NODE_PATH, ...args]);
        const built = await asAgent([
          "--input-type=module",
          "-e",
          `const { buildSupervisorBundle } = await import("${APP_DIR}/node-agent/src/supervisor/bundle.ts");
           console.log(JSON.stringify(await buildSupervisorBundle()));`,
        ]);
        assert.equal(built.exitCode, 0, built.tail);
        const found = JSON.parse(built.stdout.trim().split("\n").at(-1) ?? "{}") as {
          path?: string;
          written?: boolean;
        };
        assert.match(
          found.path ?? "",
          new RegExp(
            `^${APP_DIR}/node-agent/\\.cache/supervisor/turgon-supervisor\\.[0-9a-f]{16}\\.mjs$`,
          ),
        );
        assert.equal(found.written, false, "prebuilt in the image");
        // Its npm packages resolve there: it gets as far as refusing its (missing) options.
        const started = await asAgent([found.path ?? "", "null"]);
        assert.notEqual(started.exitCode, 0);
        assert.doesNotMatch(started.tail, /ERR_MODULE_NOT_FOUND|Cannot find/, started.tail);
        assert.match(started.tail, /ZodError|expected object/, started.tail);
      }

      const reference = await pushImage(image.layout, image.tag, registry, repository(component));
      assert.equal(reference, `${registry}/${repository(component)}:${chart.appVersion}`);
      const local = await layoutManifest(image.layout);
      const remote = (await remoteManifest(reference)) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      assert.equal(remote.config.digest, local.config.digest);
      assert.deepEqual(
        remote.layers.map((l) => l.digest),
        local.layers.map((l) => l.digest),
      );
      const inspected = await inspectRemote(reference);
      assert.equal(inspected.Labels?.["org.opencontainers.image.version"], chart.appVersion);
      const size = await layoutSize(image.layout);
      console.log(
        `# ${reference}: ${(size / 2 ** 20).toFixed(0)} MiB compressed, ${image.built ? "built" : "cached"} in ${built} ms`,
      );
    });
  }
});
