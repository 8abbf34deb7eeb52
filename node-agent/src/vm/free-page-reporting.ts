/**
 * Free page reporting: what lets an idle VM give back the memory its guest
 * touched once and freed (the kernel's decompression, boot-time page cache,
 * init memory). Measured on the debian-python image under TCG, a 256 MiB
 * guest leaves ~120 MiB of host memory behind after boot; with this, ~72 MiB.
 *
 * - Guest RAM in a memfd (shared memory) instead of QEMU's anonymous mapping,
 *   which QEMU marks for transparent huge pages: there a single touched 4 KiB
 *   page can cost the host 2 MiB, and khugepaged may fill a sparse region
 *   back in. Shared memory takes huge pages only when the host's
 *   `shmem_enabled` asks for them (`never` by default). The cost: KSM merges
 *   anonymous memory only, so a host that runs KSM for VMs would want this off.
 * - A virtio balloon with free-page-reporting: the guest (virtio_balloon,
 *   loaded by Turgon's initramfs) reports free pages and QEMU punches them out
 *   of the memfd. The balloon is never inflated: the guest keeps all its RAM.
 * - Once booted, the guest reports pages from 4 KiB up (Linux 6.1 reports
 *   2 MiB blocks only, which a booted guest's free memory is too fragmented
 *   to fill) and drops its page cache and slab caches, so what boot read is
 *   reported too. Files are read again from the (host-cached) disk if needed.
 */

/** QEMU's arguments for a guest of `memoryMiB` with its RAM in a memfd and a reporting balloon (q35: PCI). */
export function freePageReportingArgs(memoryMiB: number): string[] {
  return [
    "-object",
    `memory-backend-memfd,id=turgon-ram,size=${memoryMiB}M,share=on`,
    "-machine",
    "memory-backend=turgon-ram",
    "-device",
    "virtio-balloon-pci,free-page-reporting=on",
  ];
}

/**
 * Run in the guest once it has booted: report free pages of any order (the
 * parameter exists only with reporting built in; without a balloon the
 * write changes nothing), then drop clean caches so boot's page cache is
 * freed, and so reported.
 */
export const RECLAIM_AFTER_BOOT =
  "p=/sys/module/page_reporting/parameters/page_reporting_order; " +
  "if [ -w $p ]; then echo 0 > $p; fi; sync; echo 3 > /proc/sys/vm/drop_caches";
