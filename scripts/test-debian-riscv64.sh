#!/usr/bin/env bash
# Debian for riscv64 under QEMU, by hand (issue 4 §6), not part of CI: ~10 minutes.
#
#   scripts/test-debian-riscv64.sh [SRC…]     # as root, after scripts/setup.sh; default SRC: sl
#
# (trixie's hello 2.10-5 would be the obvious choice, but the mirror answered 404 for its
# debian.tar.xz here: kiln reports that per file and per package, see docs/debian.md.)
#
# Builds the source packages of $SUITE (default trixie) for amd64 and riscv64 in one run
# (`kiln build --debian $SUITE --arch amd64,riscv64`), in envs $SUITE-amd64 and
# $SUITE-riscv64 from $KILN_ENVS (made on first use: riscv64 through qemu-user-static and
# binfmt_misc), publishes them to the run's signed repository, then checks that each
# arch's .deb holds an ELF binary for that machine (EM_X86_64 = 62, EM_RISCV = 243) and
# prints per package and arch the build time and the QEMU slowdown factor.
# A pool file the mirror lacks (it happens) shows as fetch-failed naming the file.
#
# Environment: SUITE, KILN_ENVS (default /var/tmp/kiln-test-envs), KEEP=1 keeps the state dir.

set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
NODE="$REPO/node_modules/.bin/node"
SUITE=${SUITE:-trixie}
export KILN_ENVS=${KILN_ENVS:-/var/tmp/kiln-test-envs}
unset KILN_STATE KILN_CACHE
die() { echo "test-debian-riscv64: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, chroot sandbox, binfmt registration)"
[ -x "$NODE" ] || die "no $NODE: run scripts/setup.sh first"
[ -e /usr/bin/qemu-riscv64-static ] || die "qemu-user-static is missing: run scripts/setup.sh"
SRCS=("$@"); [ ${#SRCS[@]} -gt 0 ] || SRCS=(sl)

WORK=$(mktemp -d /var/tmp/kiln-debian-riscv64-XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf --one-file-system "$WORK"; fi; }
trap cleanup EXIT
STATE="$WORK/state"
START=$(date +%s)
set +e
"$NODE" "$REPO/bin/kiln.js" build --debian "$SUITE" --arch amd64,riscv64 --state "$STATE" "${SRCS[@]}"
CODE=$?
set -e
echo "test-debian-riscv64: kiln build exited $CODE after $(( $(date +%s) - START )) s"
REPORT=$(ls "$STATE"/runs/*/report.json | tail -n1)
"$NODE" - "$REPORT" "$STATE/repo" <<'JS'
const { existsSync, readFileSync, readdirSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const [report, repo] = process.argv.slice(2);
const r = JSON.parse(readFileSync(report, 'utf8'));
const by = new Map();
for (const p of r.packages) by.set(`${p.name}@${p.arch}`, p);
let bad = 0;
for (const p of r.packages) {
  console.log(`${p.name}@${p.arch}: ${p.state} in ${(p.durationMs / 1000).toFixed(1)} s${p.cause ? ` (${p.cause})` : ''}`);
  if (p.state !== 'built' && p.state !== 'up-to-date') bad++;
}
for (const p of r.packages.filter((p) => p.arch === 'riscv64')) {
  const a = by.get(`${p.name}@amd64`);
  if (a && a.state === 'built' && p.state === 'built') console.log(`${p.name}: riscv64 under QEMU is ${(p.durationMs / a.durationMs).toFixed(1)}x amd64`);
}
const machines = { amd64: 62, riscv64: 243 };
const walk = (d) => !existsSync(d) ? [] : readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]);
for (const deb of walk(join(repo, 'pool')).filter((f) => /_(amd64|riscv64)\.deb$/.test(f) && !f.includes('-dbgsym'))) {
  const arch = /_(amd64|riscv64)\.deb$/.exec(deb)[1];
  const tmp = execFileSync('mktemp', ['-d']).toString().trim();
  execFileSync('dpkg-deb', ['-x', deb, tmp]);
  const elves = walk(tmp).filter((f) => { try { return readFileSync(f).subarray(0, 4).toString('latin1') === '\x7fELF'; } catch { return false; } });
  for (const f of elves) {
    const m = readFileSync(f).readUInt16LE(18);
    const ok = m === machines[arch];
    if (!ok) bad++;
    console.log(`${deb.split('/').pop()}: ${f.slice(tmp.length)} e_machine=${m} ${ok ? 'ok' : `WRONG (want ${machines[arch]})`}`);
  }
  execFileSync('rm', ['-rf', tmp]);
}
process.exit(bad === 0 ? 0 : 1);
JS
echo "test-debian-riscv64: OK"
