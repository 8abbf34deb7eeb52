import assert from "node:assert/strict";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadGuestAssets } from "@earendil-works/gondolin";
import { testEnvironment } from "@turgon/dev/testing";
import { ImageNotFoundError, resolveLocalImage } from "@turgon/image-store";
import { type Accelerator, chooseAccelerator, type ProbeOptions, probeKvm } from "./accelerator.ts";
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
  // A writable stand-in for /dev/kvm, so the probe-and-cache path runs on any machine.
  const kvmDevice = join(dir, "kvm");
  await writeFile(kvmDevice, "");
  /** Probe options with a counting, injected probe that answers `verdict`. */
  const counted = (cacheFile: string, verdict: Accelerator, kernel = kernelPath) => {
    const calls: string[] = [];
    const options: ProbeOptions = {
      qemuPath: "qemu-system-x86_64",
      kernelPath: kernel,
      cacheFile: join(dir, cacheFile),
      kvmDevice,
      probe: async (probe) => {
        calls.push(probe.kernelPath);
        return { accelerator: verdict, reason: `probe said ${verdict}` };
      },
    };
    return { options, calls };
  };

  it("uses a configured accelerator without probing", async () => {
    const { options, calls } = counted("configured.json", "kvm");
    assert.deepEqual(await chooseAccelerator("tcg", options), {
      accelerator: "tcg",
      reason: "configured",
    });
    assert.deepEqual(calls, []);
    await assert.rejects(access(options.cacheFile), { code: "ENOENT" });
  });

  it("chooses TCG without probing when the KVM device is not usable", async () => {
    const { options, calls } = counted("no-device.json", "kvm");
    const missing = join(dir, "no-such-kvm");
    assert.deepEqual(await chooseAccelerator("auto", { ...options, kvmDevice: missing }), {
      accelerator: "tcg",
      reason: `${missing} is not usable`,
    });
    assert.deepEqual(calls, []);
  });

  it("probes once, remembers the verdict, and reuses it on the next start", async () => {
    const { options, calls } = counted("once.json", "kvm");
    assert.deepEqual(await chooseAccelerator("auto", options), {
      accelerator: "kvm",
      reason: "probe said kvm",
    });
    const cached = JSON.parse(await readFile(options.cacheFile, "utf8"));
    assert.equal(cached.accelerator, "kvm");
    const second = await chooseAccelerator("auto", options);
    assert.equal(second.accelerator, "kvm");
    assert.match(second.reason, /^probe said kvm \(probed \d{4}-/);
    assert.equal(calls.length, 1, "the second start read the cache");
  });

  it("probes again when the probe kernel changes, and keeps a TCG verdict too", async () => {
    const first = counted("kernel.json", "tcg");
    assert.equal((await chooseAccelerator("auto", first.options)).accelerator, "tcg");
    const other = counted("kernel.json", "kvm", `${kernelPath}.other`);
    assert.equal((await chooseAccelerator("auto", other.options)).accelerator, "kvm");
    assert.deepEqual([first.calls.length, other.calls.length], [1, 1]);
  });

  it("bounds the real probe boot and says why it chose", async () => {
    const started = Date.now();
    const verdict = await probeKvm({
      qemuPath: "qemu-system-x86_64",
      kernelPath,
      cacheFile: join(dir, "unused.json"),
      timeoutMs: 15_000,
    });
    assert.ok(Date.now() - started < 20_000, "the probe ends within its timeout");
    if (verdict.accelerator === "kvm")
      assert.equal(verdict.reason, "KVM probe boot reached the guest kernel");
    else
      assert.match(verdict.reason, /^KVM probe (boot failed|boot did not reach|could not start)/);
    const missing = await probeKvm({
      qemuPath: join(dir, "no-such-qemu"),
      kernelPath,
      cacheFile: join(dir, "unused.json"),
    });
    assert.deepEqual(missing.accelerator, "tcg");
    assert.match(missing.reason, /^KVM probe could not start QEMU: .*ENOENT/);
  });
});
