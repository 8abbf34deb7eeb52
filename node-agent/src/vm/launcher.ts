import { homedir } from "node:os";
import { join } from "node:path";
import {
  type DnsOptions,
  type HttpHooks,
  loadAssetManifest,
  loadGuestAssets,
  VM,
  type VMOptions,
  VmCheckpoint,
} from "@earendil-works/gondolin";
import { imageStoreDir, resolveLocalImage } from "@turgon/image-store";
import { logger } from "../logger.ts";
import { type Accelerator, type AcceleratorSetting, chooseAccelerator } from "./accelerator.ts";
import { freePageReportingArgs, RECLAIM_AFTER_BOOT } from "./free-page-reporting.ts";
import { qemuWrapper } from "./qemu-wrapper.ts";

export type RootfsMode = "readonly" | "memory" | "cow";

/** What to boot: the parts of a sandbox's desired state that shape the VM itself. */
export interface VmSpec {
  /** `name:tag` in the image store (or an image directory). */
  image: string;
  cpus: number;
  memoryMiB: number;
  env?: Record<string, string>;
  rootfsMode?: RootfsMode;
  httpHooks?: HttpHooks;
  /** The guest's DNS: synthetic answers (default) or forwarded to trusted resolvers. */
  dns?: DnsOptions;
}

export interface LauncherOptions {
  accelerator: AcceleratorSetting;
  imageStore?: string;
  qemuPath?: string;
  /** Where the KVM probe's verdict is cached. */
  probeCacheFile?: string;
  startTimeoutMs?: number;
  /** TCG translation-block cache per VM, in MiB (QEMU's own default is much larger). */
  tcgTranslationCacheMiB?: number;
  /**
   * Guest RAM in a memfd with a free-page-reporting balloon, and caches
   * dropped after boot, so an idle VM holds little more host memory than
   * its guest uses (`free-page-reporting.ts`). On by default.
   */
  freePageReporting?: boolean;
}

/** TCG translation cache per VM by default (MiB): below ~16 MiB a TCG boot thrashes it and slows several-fold. */
export const DEFAULT_TCG_TRANSLATION_CACHE_MIB = 32;

const log = logger.child({ component: "vm-launcher" });

export class InvalidVmSpecError extends Error {}

/**
 * What a sandbox uses of a VM: Gondolin's `VM`, or the simulated runtime's
 * stand-in. Typed as a subset so the compiler holds both to the same contract.
 */
export type SandboxVm = Pick<
  VM,
  | "exec"
  | "enableIngress"
  | "getIngressRoutes"
  | "setIngressRoutes"
  | "close"
  | "getHostPid"
  | "checkpoint"
  | "enableSsh"
>;

/** Boots sandbox VMs: QEMU through Gondolin, or the simulated runtime for benchmarks. */
export interface SandboxRuntime {
  readonly name: "qemu" | "simulated";
  /** The accelerator in use, once known (never, for the simulated runtime). */
  readonly chosenAccelerator?: Accelerator;
  /** Creates and boots a VM; resolves once the guest is up. */
  launch(spec: VmSpec): Promise<SandboxVm>;
  /** Boots a VM whose root disk continues from a checkpoint that `vm.checkpoint` wrote. */
  resume(checkpointPath: string, spec: VmSpec): Promise<SandboxVm>;
  /** Whether the VM's root disk is a writable qcow2 overlay, which `vm.checkpoint` can save. */
  canCheckpoint(spec: VmSpec): boolean;
}

function validate(spec: VmSpec): void {
  if (!Number.isInteger(spec.cpus) || spec.cpus < 1 || spec.cpus > 64) {
    throw new InvalidVmSpecError(`cpus must be an integer from 1 to 64, got ${spec.cpus}`);
  }
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 128 || spec.memoryMiB > 1_048_576) {
    throw new InvalidVmSpecError(
      `memoryMiB must be an integer from 128 to 1048576, got ${spec.memoryMiB}`,
    );
  }
  for (const name of Object.keys(spec.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new InvalidVmSpecError(`env: "${name}" is not a valid variable name`);
  }
}

/** Boots Gondolin VMs from the local image store on the accelerator this host can really use. */
export class VmLauncher implements SandboxRuntime {
  readonly name = "qemu";
  private readonly options: Required<Omit<LauncherOptions, "startTimeoutMs">> & {
    startTimeoutMs: number;
  };
  private accelerator?: Promise<{ accelerator: Accelerator; reason: string }>;
  /** The accelerator in use, once the first launch has chosen it. */
  chosenAccelerator?: Accelerator;

  constructor(options: LauncherOptions) {
    this.options = {
      accelerator: options.accelerator,
      imageStore: options.imageStore ?? imageStoreDir(),
      qemuPath: options.qemuPath ?? "qemu-system-x86_64",
      probeCacheFile:
        options.probeCacheFile ?? join(homedir(), ".cache", "turgon", "accel-probe.json"),
      // TCG boots take seconds, and many at once on few cores take longer.
      startTimeoutMs: options.startTimeoutMs ?? 180_000,
      tcgTranslationCacheMiB: options.tcgTranslationCacheMiB ?? DEFAULT_TCG_TRANSLATION_CACHE_MIB,
      freePageReporting: options.freePageReporting ?? true,
    };
  }

  /** The accelerator in use, probed once per launcher. */
  resolveAccelerator(kernelPath: string): Promise<{ accelerator: Accelerator; reason: string }> {
    this.accelerator ??= chooseAccelerator(this.options.accelerator, {
      qemuPath: this.options.qemuPath,
      kernelPath,
      cacheFile: this.options.probeCacheFile,
    });
    return this.accelerator;
  }

  /** Creates and boots a VM; resolves once the guest is up. */
  async launch(spec: VmSpec): Promise<VM> {
    const options = await this.vmOptions(spec);
    return this.started(await VM.create(options), options);
  }

  /**
   * Boots a VM from a disk-only checkpoint (`vm.checkpoint`): Gondolin puts a
   * fresh qcow2 overlay over the checkpoint file, which must stay in place
   * while the VM runs. The image must be the build the checkpoint was made from.
   */
  async resume(checkpointPath: string, spec: VmSpec): Promise<VM> {
    const options = await this.vmOptions(spec);
    return this.started(await VmCheckpoint.load(checkpointPath).resume<VM>(options), options);
  }

  /** `cow` (Gondolin's default) is a qcow2 overlay; `memory` and `readonly` keep no disk state. */
  canCheckpoint(spec: VmSpec): boolean {
    const mode =
      spec.rootfsMode ??
      loadAssetManifest(resolveLocalImage(spec.image, this.options.imageStore).assetDir)
        ?.runtimeDefaults?.rootfsMode ??
      "cow";
    return mode === "cow";
  }

  private async vmOptions(spec: VmSpec): Promise<VMOptions> {
    validate(spec);
    const image = resolveLocalImage(spec.image, this.options.imageStore);
    const { accelerator } = await this.resolveAccelerator(
      loadGuestAssets(image.assetDir).kernelPath,
    );
    this.chosenAccelerator = accelerator;
    return {
      sandbox: {
        imagePath: image.assetDir,
        qemuPath: await this.qemuPathFor(spec),
        // QEMU's default TCG translation cache is far larger than an idle guest
        // needs; a smaller one is what lets many TCG VMs share a host.
        accel:
          accelerator === "tcg"
            ? `tcg,tb-size=${this.options.tcgTranslationCacheMiB}`
            : accelerator,
        // Turgon's Debian images use PCI virtio; Gondolin's microvm default needs virtio-mmio.
        machineType: "q35",
        cpu: accelerator === "kvm" ? "host" : "max",
        console: "none",
      },
      cpus: spec.cpus,
      memory: `${spec.memoryMiB}M`,
      env: spec.env ?? {},
      ...(spec.rootfsMode ? { rootfs: { mode: spec.rootfsMode } } : {}),
      ...(spec.httpHooks ? { httpHooks: spec.httpHooks } : {}),
      ...(spec.dns ? { dns: spec.dns } : {}),
      startTimeoutMs: this.options.startTimeoutMs,
    };
  }

  /**
   * QEMU, or with free page reporting a wrapper that adds its arguments;
   * plain QEMU (with a warning) when the wrapper cannot be written: it saves
   * memory, it never stops a VM from starting.
   */
  private async qemuPathFor(spec: VmSpec): Promise<string> {
    if (!this.options.freePageReporting) return this.options.qemuPath;
    try {
      return await qemuWrapper(this.options.qemuPath, freePageReportingArgs(spec.memoryMiB));
    } catch (error) {
      log.warn({ err: error }, "no free page reporting: QEMU runs without it");
      return this.options.qemuPath;
    }
  }

  private async started(vm: VM, options: VMOptions): Promise<VM> {
    try {
      await vm.start();
    } catch (error) {
      await vm.close().catch(() => {});
      throw error;
    }
    if (options.sandbox?.qemuPath !== this.options.qemuPath) await this.reclaimAfterBoot(vm);
    return vm;
  }

  /** Has the booted guest report its free pages and drop boot's caches (best effort). */
  private async reclaimAfterBoot(vm: VM): Promise<void> {
    try {
      const result = await vm.exec(RECLAIM_AFTER_BOOT);
      if (result.exitCode !== 0)
        log.warn(
          { exitCode: result.exitCode, stderr: result.stderr },
          "guest did not drop its caches",
        );
    } catch (error) {
      log.warn({ err: error }, "guest did not drop its caches");
    }
  }
}
