import assert from "node:assert/strict";
import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadGuestAssets } from "@earendil-works/gondolin";
import { testEnvironment } from "@turgon/dev/testing";
import { ImageNotFoundError, resolveLocalImage } from "@turgon/image-store";
import { chooseAccelerator } from "./accelerator.ts";
import { InvalidVmSpecError, VmLauncher } from "./launcher.ts";

describe("VmLauncher", () => {
  const launcher = new VmLauncher({ accelerator: "tcg" });

  it("says how to build an image that is missing", async () => {
    await assert.rejects(
      launcher.launch({ image: "no-such-image:v9", cpus: 1, memoryMiB: 256 }),
      (error: unknown) =>
        error instanceof ImageNotFoundError &&
        /guest image "no-such-image:v9" is not in the image store/.test(error.message) &&
        /npm run images/.test(error.message),
    );
  });

  it("rejects bad cpus, memory and env names before touching QEMU", async () => {
    const image = testEnvironment().guestImage;
    const cases = [
      [{ cpus: 0, memoryMiB: 256 }, /cpus must be an integer from 1 to 64, got 0/],
      [{ cpus: 1, memoryMiB: -512 }, /memoryMiB must be an integer from 128/],
      [
        { cpus: 1, memoryMiB: 256, env: { "1BAD": "x" } },
        /env: "1BAD" is not a valid variable name/,
      ],
    ] as const;
    for (const [spec, message] of cases) {
      await assert.rejects(
        launcher.launch({ image, ...spec }),
        (error: unknown) => error instanceof InvalidVmSpecError && message.test(error.message),
      );
    }
  });
});

describe("chooseAccelerator", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-accel-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const kernelPath = loadGuestAssets(
    resolveLocalImage(testEnvironment().guestImage).assetDir,
  ).kernelPath;
  const probe = {
    qemuPath: "qemu-system-x86_64",
    kernelPath,
    cacheFile: join(dir, "probe.json"),
    timeoutMs: 15_000,
  };

  it("uses a configured accelerator without probing", async () => {
    assert.deepEqual(await chooseAccelerator("tcg", probe), {
      accelerator: "tcg",
      reason: "configured",
    });
    await assert.rejects(access(probe.cacheFile), { code: "ENOENT" });
  });

  it("probes once with a bounded boot, then reuses the cached verdict", async () => {
    const kvmUsable = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    );
    const first = await chooseAccelerator("auto", probe);
    if (!kvmUsable) {
      assert.deepEqual(first, { accelerator: "tcg", reason: "/dev/kvm is not usable" });
      return;
    }
    assert.match(first.reason, /KVM probe/);
    const cached = JSON.parse(await readFile(probe.cacheFile, "utf8"));
    assert.equal(cached.accelerator, first.accelerator);
    const second = await chooseAccelerator("auto", probe);
    assert.equal(second.accelerator, first.accelerator);
    assert.match(second.reason, /\(probed /);
  });
});
