#!/usr/bin/env bash
# Everything kiln needs on a fresh Debian 12 machine, idempotent: the Debian packages
# it runs (GNU tar, zstd, GNU time, a C toolchain for the example tree and kiln's launcher
# helper) and the npm packages (which bring the pinned Node 24). Run as root, or with
# sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(build-essential tar zstd time xz-utils bzip2 ca-certificates procps python3 util-linux iproute2
      mmdebstrap debian-archive-keyring qemu-user-static binfmt-support arch-test uidmap dose-builddebcheck dpkg-dev
      lintian  # lintian: kiln build --debian … --lintian (docs/debian.md)
      nats-server  # nats-server: kiln build --nats and kiln worker, and their tests (docs/operations.md, "Many machines")
      ccache  # ccache: kiln build --ccache on the host sandbox, its tests and bench (docs/operations.md, "Caches")
      git  # git: recipes' git+ sources (docs/recipes.md, URL schemes) and their tests
      sbuild  # sbuild: the Debian bench's baseline (bench/debian.ts, sbuild --chroot-mode=unshare)
      chromium  # chromium: the web status page's browser test (test/integration/web-page.test.ts)
      qemu-system-x86)  # qemu-system-x86: kiln on cgroup v2, in a VM (scripts/test-cgroup-v2.sh, run by CI)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "kiln setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "kiln setup: installing npm packages (npm ci)"
  # npm itself may run on an older system Node, which makes it warn (EBADENGINE) about every
  # package that wants Node 24: harmless, since kiln runs on the Node 24 that npm installs.
  npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/node --version >/dev/null
