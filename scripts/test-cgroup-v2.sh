#!/usr/bin/env bash
# kiln on cgroup v2, the unified hierarchy under systemd that most users have, in a VM.
# This CI machine has cgroup v1 (hybrid): its memory, cpu and pids controllers are bound
# to v1 hierarchies, so no test here can make a v2 group with them. The VM boots Debian
# bookworm with systemd (unified hierarchy, kiln started from a service unit as
# contrib/kiln.service would) and runs, against this checkout (shared read-only over 9p):
#
#   - `kiln doctor`: must find cgroup v2 and a usable chroot sandbox;
#   - the real-cgroup test (src/sandbox/cgroups/cgroups.test.ts): limits, an OOM kill
#     counted, the group killed whole and removed;
#   - the limits through the real CLI in the chroot sandbox (security cases 19 and 21:
#     out-of-memory, a fork bomb, writes outside the root, inherited descriptors), with a
#     copy of the shared bookworm env;
#   - afterwards, nothing of kiln's is left under /sys/fs/cgroup.
#
#   scripts/test-cgroup-v2.sh            # as root, after scripts/setup.sh
#
# Uses KVM when the VM boots with it, else QEMU's emulation (slower: about 10 minutes in
# all here). The VM's root (mmdebstrap, about 2 minutes the first time) is kept in
# $KILN_VM_DIR (default /var/tmp/kiln-vm-cgroup2) and reused while this script's package
# list is unchanged. The mirror is the host's apt mirror (kiln's own lookup).
# Environment: KILN_TEST_ENVS (default /var/tmp/kiln-test-envs: the env is made there when
# missing, as the tests do), KILN_VM_DIR, KILN_VM_ACCEL=kvm|tcg to force one, KEEP=1.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
NODE="$REPO/node_modules/.bin/node"
VM=${KILN_VM_DIR:-/var/tmp/kiln-vm-cgroup2}
ENVS=${KILN_TEST_ENVS:-/var/tmp/kiln-test-envs}
PACKAGES=systemd-sysv,udev,kmod,linux-image-amd64,initramfs-tools,tar,zstd,time,xz-utils,bzip2,procps,util-linux,iproute2,uidmap,ca-certificates,python3,perl,gcc,libc6-dev,mmdebstrap
die() { echo "test-cgroup-v2: FAIL: $*" >&2; exit 1; }
say() { echo "test-cgroup-v2: $*"; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, the VM's image)"
[ -x "$NODE" ] || die "no $NODE: run scripts/setup.sh first"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: run scripts/setup.sh"
if ! command -v qemu-system-x86_64 >/dev/null; then
  say "installing qemu-system-x86"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
unset KILN_STATE KILN_CACHE

# The shared env the chroot tests use, copied into the VM's disk.
if [ ! -e "$ENVS/bookworm-amd64/env.json" ]; then
  say "making env bookworm-amd64 in $ENVS"
  mkdir -p "$ENVS"
  KILN_ENVS="$ENVS" "$NODE" "$REPO/bin/kiln.js" env create bookworm-amd64 --suite bookworm --arch amd64 --state "$ENVS/.state"
fi

mkdir -p "$VM"
ROOT="$VM/root-$(printf '%s' "$PACKAGES" | sha256sum | cut -c1-12)"
if [ ! -e "$ROOT/.complete" ]; then
  MIRROR=$(cd "$REPO" && "$NODE" --input-type=module -e "const m = await import('./src/config/mirrors.ts'); console.log(await m.hostDebianMirror() ?? '')")
  [ -n "$MIRROR" ] || die "no Debian mirror in the host's apt sources"
  say "making the VM's root with mmdebstrap (once)"
  rm -rf --one-file-system "$ROOT"
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" bookworm "$ROOT" "$MIRROR"
  cat > "$ROOT/etc/fstab" <<'EOF'
/dev/vda / ext4 rw,errors=remount-ro 0 1
kiln /kiln 9p trans=virtio,version=9p2000.L,ro,msize=262144,nofail 0 0
share /share 9p trans=virtio,version=9p2000.L,rw,msize=262144,nofail 0 0
EOF
  mkdir -p "$ROOT/kiln" "$ROOT/share"
  echo kiln-vm > "$ROOT/etc/hostname"
  printf '9p\n9pnet_virtio\n' > "$ROOT/etc/modules-load.d/kiln-vm.conf"
  # The test runs as a service (kiln's own unit runs it so too), its output on the serial console.
  cat > "$ROOT/etc/systemd/system/kiln-vmtest.service" <<'EOF'
[Unit]
Description=kiln's cgroup v2 checks
After=local-fs.target
Requires=local-fs.target
[Service]
Type=oneshot
ExecStart=/bin/bash /share/inside.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStopPost=/bin/systemctl poweroff --no-block
[Install]
WantedBy=multi-user.target
EOF
  ln -sf /etc/systemd/system/kiln-vmtest.service "$ROOT/etc/systemd/system/multi-user.target.wants/kiln-vmtest.service"
  touch "$ROOT/.complete"
fi

WORK=$(mktemp -d "$VM/run-XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf --one-file-system "$WORK"; fi; }
trap cleanup EXIT
mkdir -p "$WORK/share"

# What runs inside: each step's exit status goes to /share/results.
cat > "$WORK/share/inside.sh" <<'EOF'
exec > /share/console.txt 2>&1
cd /kiln
export KILN_ENVS=/var/tmp/kiln-test-envs KILN_TEST_ENVS=/var/tmp/kiln-test-envs KILN_TEST_CACHE=/var/tmp/kiln-test-cache
export XDG_CACHE_HOME=/var/tmp/xdg HOME=/root
NODE=/kiln/node_modules/.bin/node
step() { local name=$1; shift; echo "=== $name"; "$@"; echo "$name $?" >> /share/results; }
echo "cgroup of this service: $(cat /proc/self/cgroup)"
step doctor-v2 sh -c "$NODE bin/kiln.js doctor --state /var/tmp/kiln-state | tee /dev/stderr | grep -q 'ok   cgroups: cgroup v2'"
step doctor-chroot sh -c "$NODE bin/kiln.js doctor --state /var/tmp/kiln-state | grep -q 'ok   chroot sandbox'"
step cgroups-test $NODE --test --import ./test/helpers/hermetic-env.ts src/sandbox/cgroups/cgroups.test.ts
step security-cases $NODE --test --test-name-pattern='case 19|case 21' --import ./test/helpers/hermetic-env.ts test/integration/security-cases.test.ts
step nothing-left sh -c '! ls -d /sys/fs/cgroup/kiln /sys/fs/cgroup/kiln-test-* 2>/dev/null | grep .'
echo "=== end"
EOF

say "making the VM's disk"
rm -rf --one-file-system "$WORK/disk"
mkdir -p "$WORK/disk"
cp -a "$ROOT/." "$WORK/disk/"
mkdir -p "$WORK/disk/var/tmp/kiln-test-envs"
cp -a "$ENVS/bookworm-amd64" "$WORK/disk/var/tmp/kiln-test-envs/"
mke2fs -q -t ext4 -d "$WORK/disk" -L kilnvm "$WORK/vm.img" 8G
rm -rf --one-file-system "$WORK/disk"

KERNEL=$(ls "$ROOT"/boot/vmlinuz-* | sort -V | tail -1)
INITRD=$(ls "$ROOT"/boot/initrd.img-* | sort -V | tail -1)
# QEMU runs in the group's shell ($1): both go.
stop_vm() { pkill -P "$1" 2>/dev/null || true; kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# Boot with $1 (kvm or tcg) for at most $2 seconds; 1 when the guest's test never started
# within $3 seconds (a nested KVM that stops in the firmware).
boot() {
  rm -f "$WORK/share/results" "$WORK/share/console.txt"
  # Under emulation a plain x86-64-v2 CPU (Node needs SSE4.2; QEMU's "max" crashed Node here once).
  local cpu=Nehalem; [ "$1" = kvm ] && cpu=host
  # In a group of its own, whose shell says an abort (as of a KVM that cannot run this CPU
  # model) into qemu.txt rather than here.
  { qemu-system-x86_64 -accel "$1" -cpu "$cpu" -smp 2 -m 6144 -nographic -nodefaults -serial "file:$WORK/serial.txt" -no-reboot \
    -kernel "$KERNEL" -initrd "$INITRD" -append "root=/dev/vda rw console=ttyS0 quiet" \
    -drive "file=$WORK/vm.img,format=raw,if=virtio" \
    -virtfs "local,path=$REPO,mount_tag=kiln,security_model=none,readonly=on" \
    -virtfs "local,path=$WORK/share,mount_tag=share,security_model=none" \
    -nic none; } > "$WORK/qemu.txt" 2>&1 &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ ! -e "$WORK/share/console.txt" ] && [ "$waited" -ge "$3" ]; then stop_vm "$pid"; return 1; fi
    if [ "$waited" -ge "$2" ]; then stop_vm "$pid"; return 0; fi
    sleep 2; waited=$((waited + 2))
  done
  wait "$pid" 2>/dev/null || true
  [ -e "$WORK/share/console.txt" ]
}
start=$(date +%s)
ACCEL=${KILN_VM_ACCEL:-}
if [ "$ACCEL" != tcg ] && [ -w /dev/kvm ] && boot kvm 1200 120; then ACCEL=kvm; else ACCEL=tcg; fi
if [ "$ACCEL" = tcg ]; then
  say "booting the VM under QEMU's emulation$( [ -w /dev/kvm ] && echo " (KVM did not run it: $(grep -m1 '^qemu-system' "$WORK/qemu.txt" 2>/dev/null | cut -c1-120))")"
  boot tcg 2400 600 || true
fi
took=$(( $(date +%s) - start ))

cat "$WORK/share/console.txt" 2>/dev/null || { tail -40 "$WORK/serial.txt" "$WORK/qemu.txt" 2>/dev/null; die "the VM ran nothing ($ACCEL)"; }
say "results ($ACCEL, ${took}s):"
cat "$WORK/share/results"
want="doctor-v2 doctor-chroot cgroups-test security-cases nothing-left"
for w in $want; do
  grep -qx "$w 0" "$WORK/share/results" || die "$w did not pass (see above)"
done
say "PASS: every check passed on cgroup v2"
