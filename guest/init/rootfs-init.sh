#!/bin/sh
# Turgon rootfs /init, started by the initramfs. Prepares the guest the way
# Gondolin's host side expects it (virtio ports, static network on Gondolin's
# fixed addresses, sandboxfs mounts, the MITM CA) and then becomes sandboxd.
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp LANG=C.UTF-8

log() { echo "turgon-init: $*" >/dev/console 2>/dev/null || true; }

mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
ln -sf /dev/pts/ptmx /dev/ptmx 2>/dev/null || true
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
for dir in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$dir"; done
for dir in /var/cache /var/log; do mount -t tmpfs -o mode=755 tmpfs "$dir"; done
mount -t tmpfs -o mode=700 tmpfs /root

# Name the virtio serial ports (/dev/virtio-ports/<name>) without udev.
mkdir -p /dev/virtio-ports
wait_port() {
  i=0
  while [ "$i" -lt 200 ]; do
    for port in /sys/class/virtio-ports/vport*; do
      [ -r "$port/name" ] || continue
      ln -sf "/dev/$(basename "$port")" "/dev/virtio-ports/$(cat "$port/name")"
    done
    [ -e "/dev/virtio-ports/$1" ] && return 0
    sleep 0.05
    i=$((i + 1))
  done
  log "virtio port $1 did not appear"
  return 1
}
wait_port virtio-port

# Gondolin's network stack answers on fixed addresses (it also offers DHCP).
ip link set lo up
ip link set eth0 up
ip addr add 192.168.127.3/24 dev eth0
ip route add default via 192.168.127.1
echo "nameserver 192.168.127.1" >/run/resolv.conf

# sandboxfs: the host's virtual filesystem, with the bind mounts the host asks for.
fs_mount=/data
fs_binds=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    sandboxfs.mount=*) fs_mount="${arg#sandboxfs.mount=}" ;;
    sandboxfs.bind=*) fs_binds="${arg#sandboxfs.bind=}" ;;
  esac
done
if wait_port virtio-fs; then
  mkdir -p "$fs_mount" 2>/dev/null || true
  /usr/bin/sandboxfs --mount "$fs_mount" --rpc-path /dev/virtio-ports/virtio-fs &
  i=0
  until grep -q " $fs_mount fuse.sandboxfs " /proc/mounts; do
    i=$((i + 1))
    if [ "$i" -gt 600 ]; then break; fi
    sleep 0.05
  done
  if grep -q " $fs_mount fuse.sandboxfs " /proc/mounts; then
    for bind in $(echo "$fs_binds" | tr ',' ' '); do
      mkdir -p "$bind" 2>/dev/null || true
      mount --bind "$fs_mount$bind" "$bind"
    done
    touch /run/sandboxfs.ready
  else
    log "sandboxfs did not mount $fs_mount"
    touch /run/sandboxfs.failed
  fi
fi

# Trust Gondolin's MITM CA, so TLS to allowed hosts verifies inside the guest.
ca=/etc/gondolin/mitm/ca.crt
if [ -r "$ca" ]; then
  mkdir -p /run/gondolin
  cat /etc/ssl/certs/ca-certificates.crt "$ca" >/run/gondolin/ca-certificates.crt 2>/dev/null || cp "$ca" /run/gondolin/ca-certificates.crt
  export SSL_CERT_FILE=/run/gondolin/ca-certificates.crt
  export CURL_CA_BUNDLE=/run/gondolin/ca-certificates.crt
  export REQUESTS_CA_BUNDLE=/run/gondolin/ca-certificates.crt
  export NODE_EXTRA_CA_CERTS="$ca"
fi

[ -e /dev/virtio-ports/virtio-ssh ] || wait_port virtio-ssh || true
[ -e /dev/virtio-ports/virtio-ingress ] || wait_port virtio-ingress || true
/usr/bin/sandboxssh >/dev/console 2>&1 &
/usr/bin/sandboxingress >/dev/console 2>&1 &
exec /usr/bin/sandboxd
