import { chmod, copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { runChecked } from "@turgon/toolkit/run";
import { downloadAndExtract } from "../debian/packages.ts";
import { installModules, type Kernel, moduleClosure } from "./kernel.ts";

export interface InitramfsInput {
  kernel: Kernel;
  modules: string[];
  initScript: string;
  workDir: string;
  /** Output path of the lz4-compressed newc cpio archive. */
  output: string;
}

/**
 * A busybox-static initramfs with the virtio modules (and their
 * dependencies) that Debian's cloud kernel does not build in.
 */
export async function buildInitramfs(input: InitramfsInput): Promise<void> {
  const root = join(input.workDir, "initramfs");
  for (const dir of ["bin", "dev", "proc", "sys", "newroot"])
    await mkdir(join(root, dir), { recursive: true });

  const busybox = join(input.workDir, "busybox");
  await downloadAndExtract("busybox-static", join(input.workDir, "debs"), busybox);
  await copyFile(join(busybox, "bin", "busybox"), join(root, "bin", "busybox"));
  await chmod(join(root, "bin", "busybox"), 0o755);

  await installModules(input.kernel, await moduleClosure(input.kernel, input.modules), root);
  await copyFile(input.initScript, join(root, "init"));
  await chmod(join(root, "init"), 0o755);
  // The kernel opens /dev/console for init before devtmpfs is mounted.
  await runChecked("creating /dev/console", "mknod", [
    "-m",
    "600",
    join(root, "dev", "console"),
    "c",
    "5",
    "1",
  ]);

  // newc cpio in lz4 legacy format: what Linux's initramfs decompressor reads.
  await runChecked("packing the initramfs", "sh", [
    "-c",
    'cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | lz4 -l -9 -q > "$2"',
    "sh",
    root,
    input.output,
  ]);
}
