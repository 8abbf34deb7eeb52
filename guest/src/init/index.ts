import { fileURLToPath } from "node:url";

/** The initramfs's /init: loads the virtio modules and switches to the root disk. */
export const INITRAMFS_INIT_SCRIPT = fileURLToPath(
  new URL("../../init/initramfs-init.sh", import.meta.url),
);

/** The rootfs's /init: prepares what Gondolin's host expects, then execs sandboxd. */
export const ROOTFS_INIT_SCRIPT = fileURLToPath(
  new URL("../../init/rootfs-init.sh", import.meta.url),
);
