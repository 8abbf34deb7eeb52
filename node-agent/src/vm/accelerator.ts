import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { release } from "node:os";
import { dirname } from "node:path";

export type AcceleratorSetting = "auto" | "kvm" | "tcg";
export type Accelerator = "kvm" | "tcg";

export interface ProbeOptions {
  qemuPath: string;
  /** A kernel to boot for the probe (any guest kernel will do). */
  kernelPath: string;
  /** Where the probe's verdict is remembered between runs. */
  cacheFile: string;
  timeoutMs?: number;
  /** The KVM device (default /dev/kvm); tests point it elsewhere. */
  kvmDevice?: string;
  /** The probe boot (default: QEMU under KVM); tests inject one to exercise the cache. */
  probe?: (options: ProbeOptions) => Promise<{ accelerator: Accelerator; reason: string }>;
}

interface ProbeRecord {
  key: string;
  accelerator: Accelerator;
  reason: string;
  probedAt: string;
}

/**
 * Picks the accelerator: `kvm` or `tcg` when configured, otherwise KVM only
 * where /dev/kvm is usable *and* a bounded probe boot under KVM gets as far
 * as the guest kernel. Some hosts expose a /dev/kvm on which QEMU aborts or
 * hangs (nested hypervisors), so the device alone proves nothing. The verdict
 * is cached per QEMU, host kernel and probe kernel.
 */
export async function chooseAccelerator(
  setting: AcceleratorSetting,
  probe: ProbeOptions,
): Promise<{ accelerator: Accelerator; reason: string }> {
  if (setting !== "auto") return { accelerator: setting, reason: "configured" };
  const device = probe.kvmDevice ?? "/dev/kvm";
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch {
    return { accelerator: "tcg", reason: `${device} is not usable` };
  }
  const key = JSON.stringify({ qemu: probe.qemuPath, host: release(), kernel: probe.kernelPath });
  const cached = await readProbeRecord(probe.cacheFile);
  if (cached?.key === key)
    return {
      accelerator: cached.accelerator,
      reason: `${cached.reason} (probed ${cached.probedAt})`,
    };

  const verdict = await (probe.probe ?? probeKvm)(probe);
  const record: ProbeRecord = { key, ...verdict, probedAt: new Date().toISOString() };
  await mkdir(dirname(probe.cacheFile), { recursive: true });
  await writeFile(probe.cacheFile, `${JSON.stringify(record, null, 2)}\n`);
  return verdict;
}

async function readProbeRecord(path: string): Promise<ProbeRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as ProbeRecord;
  } catch {
    return undefined;
  }
}

/**
 * Boots the kernel without a root disk under KVM: a working KVM reaches the
 * "no root" panic and exits (-no-reboot) within a second or two.
 */
export function probeKvm(
  probe: ProbeOptions,
): Promise<{ accelerator: Accelerator; reason: string }> {
  const timeoutMs = probe.timeoutMs ?? 15_000;
  return new Promise((resolve) => {
    const qemu = spawn(
      probe.qemuPath,
      [
        "-accel",
        "kvm",
        "-machine",
        "q35",
        "-cpu",
        "host",
        "-m",
        "256",
        "-smp",
        "1",
        "-nodefaults",
        "-no-reboot",
        "-nographic",
        "-serial",
        "stdio",
        "-kernel",
        probe.kernelPath,
        "-append",
        "console=ttyS0 panic=-1",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString("latin1")).slice(-20_000);
    };
    qemu.stdout.on("data", collect);
    qemu.stderr.on("data", collect);
    const timer = setTimeout(() => qemu.kill("SIGKILL"), timeoutMs);
    qemu.on("error", (error) => {
      clearTimeout(timer);
      resolve({ accelerator: "tcg", reason: `KVM probe could not start QEMU: ${error.message}` });
    });
    qemu.on("close", (code, signal) => {
      clearTimeout(timer);
      if (/Kernel panic|Run \/init|VFS: /.test(output)) {
        resolve({ accelerator: "kvm", reason: "KVM probe boot reached the guest kernel" });
      } else if (signal === "SIGKILL") {
        resolve({
          accelerator: "tcg",
          reason: `KVM probe boot did not reach the guest kernel within ${timeoutMs} ms`,
        });
      } else {
        const last = output.trim().split("\n").slice(-1)[0] ?? "";
        resolve({
          accelerator: "tcg",
          reason: `KVM probe boot failed (exit ${code ?? signal}): ${last.slice(0, 200)}`,
        });
      }
    });
  });
}
