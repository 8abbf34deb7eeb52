#!/bin/busybox sh
# Turgon initramfs /init (busybox-static). Loads the virtio drivers that
# Debian's cloud kernel builds as modules, mounts the ext4 root disk that
# Gondolin attaches as /dev/vda and hands over to the rootfs's /init.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

log() { echo "initramfs: $*" >/dev/console 2>/dev/null || echo "initramfs: $*"; }

root=/dev/vda
rootfstype=ext4
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=*) root="${arg#root=}" ;;
    rootfstype=*) rootfstype="${arg#rootfstype=}" ;;
  esac
done

# virtio_pci and virtio_mmio first: without them no virtio device appears.
# virtio_balloon: the host may attach a balloon with free page reporting, so
# the pages this guest frees go back to the host (nothing happens without one).
for module in virtio_pci virtio_mmio virtio_blk virtio_console virtio_rng virtio_net virtio_balloon fuse; do
  modprobe "$module" 2>/dev/null || log "modprobe $module failed"
done

i=0
while [ ! -b "$root" ] && [ "$i" -lt 100 ]; do
  sleep 0.05
  i=$((i + 1))
done
if [ ! -b "$root" ]; then
  log "root device $root did not appear"
  exec sh
fi

mkdir -p /newroot
# Read-write unless Gondolin attached the disk read-only (rootfs mode "readonly").
if ! mount -t "$rootfstype" "$root" /newroot 2>/dev/null; then
  mount -t "$rootfstype" -o ro "$root" /newroot || { log "cannot mount $root"; exec sh; }
fi

mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /init
