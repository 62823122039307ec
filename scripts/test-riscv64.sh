#!/usr/bin/env bash
# Foreign-arch check by hand (issue 3 §5), not part of CI: it takes minutes.
#
#   scripts/test-riscv64.sh            # as root, after scripts/setup.sh
#
# 1. makes (or reuses) two envs with `kiln env create` in $KILN_ENVS (default
#    /var/tmp/kiln-test-envs): $SUITE-amd64 and $SUITE-riscv64 (qemu-user-static +
#    binfmt_misc; kiln registers the binfmt entry with the F flag when it is missing);
# 2. builds a small tree for amd64 and riscv64 in one run with `env = "$SUITE-{arch}"`: a tiny C
#    program, zlib from examples/ (unless SKIP_ZLIB=1) and an `archs = ["all"]` package;
# 3. checks that each arch's binaries are ELF files for that machine (EM_X86_64 = 62,
#    EM_RISCV = 243, read from the ELF header), that the `all` package was built once,
#    and prints the timings: env create, build per arch, and the qemu slowdown factor.
#
# Environment: SUITE (default trixie: riscv64 is a release arch from trixie on),
# KILN_ENVS, KEEP=1 keeps the temp state dir, SKIP_ZLIB=1 builds only the tiny packages.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
NODE="$REPO/node_modules/.bin/node"
SUITE=${SUITE:-trixie}
export KILN_ENVS=${KILN_ENVS:-/var/tmp/kiln-test-envs}
unset KILN_STATE KILN_CACHE

kiln() { "$NODE" "$REPO/bin/kiln.js" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
die() { echo "test-riscv64: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, chroot sandbox, binfmt registration)"
[ -x "$NODE" ] || die "no $NODE: run npm ci first"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: run scripts/setup.sh"
[ -e /usr/bin/qemu-riscv64-static ] || die "qemu-user-static is missing: run scripts/setup.sh"

WORK=$(mktemp -d /var/tmp/kiln-riscv64-XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf --one-file-system "$WORK"; fi; }
trap cleanup EXIT
STATE="$WORK/state"
mkdir -p "$KILN_ENVS"

# --- 1. the envs ------------------------------------------------------------------
declare -A CREATE_S
for arch in amd64 riscv64; do
  name="$SUITE-$arch"
  if [ -e "$KILN_ENVS/$name/env.json" ]; then
    echo "== env $name exists in $KILN_ENVS: reused"
    CREATE_S[$arch]="reused"
  else
    echo "== kiln env create $name --suite $SUITE --arch $arch"
    t0=$(now)
    kiln env create "$name" --suite "$SUITE" --arch "$arch" --state "$STATE" | grep -v '^  mmdebstrap|' || die "env create $name failed"
    [ -e "$KILN_ENVS/$name/env.json" ] || die "env create $name made no env"
    CREATE_S[$arch]="$(secs "$t0" "$(now)") s"
  fi
done
kiln env list --state "$STATE"

# --- 2. the tree -------------------------------------------------------------------
TREE="$WORK/tree"
mkdir -p "$TREE/hello" "$TREE/notes"
cat > "$TREE/kiln.toml" <<EOF
env = "$SUITE-{arch}"
sandbox = "chroot"
EOF
cat > "$TREE/hello/recipe.toml" <<'EOF'
name = "hello"
version = "1.0"
summary = "a tiny C program, built for each arch"
license = "MIT"
build-depends = ["notes"]

[build]
script = """
test -f "$SYSROOT/usr/share/notes/notes.txt"
cat > hello.c <<'C'
#include <stdio.h>
int main(void) { printf("hello from %s\\n", ARCH); return 0; }
C
cc -O2 -DARCH="\\"$KILN_ARCH\\"" -o hello hello.c
./hello
mkdir -p "$DESTDIR/usr/bin"
cp hello "$DESTDIR/usr/bin/hello"
"""
EOF
cat > "$TREE/notes/recipe.toml" <<'EOF'
name = "notes"
version = "1.0"
summary = "arch-independent data: built once per run"
license = "MIT"
archs = ["all"]

[build]
script = """
mkdir -p "$DESTDIR/usr/share/notes"
echo "built for $KILN_ARCH" > "$DESTDIR/usr/share/notes/notes.txt"
"""
EOF
if [ "${SKIP_ZLIB:-0}" != 1 ]; then cp -r "$REPO/examples/zlib" "$TREE/zlib"; fi

# --- 3. one run for both arches ---------------------------------------------------
# --jobs 1: one build at a time, so each job's duration is its own (the slowdown figures
# compare the same package built natively and through qemu).
echo "== kiln build --arch amd64,riscv64 --jobs 1"
t0=$(now)
kiln build --tree "$TREE" --arch amd64,riscv64 --state "$STATE" --jobs 1 --json > "$WORK/both.jsonl" \
  || die "build for amd64,riscv64 failed: $(tail -c 3000 "$WORK/both.jsonl")"
BOTH_S=$(secs "$t0" "$(now)")
echo "== again: everything up to date"
kiln build --tree "$TREE" --arch amd64,riscv64 --state "$STATE" --jobs 1 --json > "$WORK/again.jsonl" \
  || die "second build failed: $(tail -c 3000 "$WORK/again.jsonl")"

# --- 4. checks and timings ---------------------------------------------------------
# Every hello artifact: unpack it and read e_machine (2 bytes at offset 18 of the ELF
# header, little-endian on both arches): 62 = x86-64, 243 = RISC-V.
echo "== checks"
"$NODE" --input-type=module - "$WORK" "$BOTH_S" "${CREATE_S[amd64]}" "${CREATE_S[riscv64]}" "$SUITE" <<'JS'
import { readFileSync, mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
const [work, bothS, createAmd64, createRiscv64, suite] = process.argv.slice(2);
const want = { amd64: 62, riscv64: 243 };
const fail = (m) => { console.error(`test-riscv64: FAIL: ${m}`); process.exit(1); };
const events = (f) => readFileSync(join(work, f), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((e) => e.type !== 'summary');
const both = events('both.jsonl');
const finished = both.filter((e) => e.type === 'job-finished');
for (const e of finished) if (e.state !== 'built') fail(`${e.jobId} ${e.state}: ${e.failure?.message ?? ''}`);
for (const arch of ['amd64', 'riscv64']) {
  const hello = finished.find((e) => e.name === 'hello' && e.arch === arch);
  if (!hello?.artifact) fail(`no hello artifact for ${arch}`);
  const out = mkdtempSync(join(work, `x-${arch}-`));
  execFileSync('tar', ['-xf', hello.artifact, '-C', out]);
  const bin = readFileSync(join(out, 'usr/bin/hello'));
  if (bin.readUInt32BE(0) !== 0x7f454c46) fail(`${arch}: usr/bin/hello is not an ELF file`);
  const machine = bin.readUInt16LE(18);
  if (machine !== want[arch]) fail(`${arch}: usr/bin/hello has ELF machine ${machine}, expected ${want[arch]}`);
  const file = execFileSync('file', ['-b', join(out, 'usr/bin/hello')], { encoding: 'utf8' }).split(',').slice(0, 2).join(',');
  console.log(`   hello@${arch}: ELF machine ${machine} (${file})`);
}
const notes = [...new Set(both.filter((e) => typeof e.jobId === 'string' && e.jobId.startsWith('notes@')).map((e) => e.jobId))];
if (notes.length !== 1 || notes[0] !== 'notes@all') fail(`notes should be one job, notes@all; got ${notes.join(', ')}`);
console.log(`   built in one run: ${finished.map((e) => e.jobId).join(', ')} (notes once, as notes@all)`);
const again = events('again.jsonl');
const rebuilt = again.filter((e) => e.type === 'job-finished');
if (rebuilt.length > 0) fail(`second run rebuilt ${rebuilt.map((e) => e.jobId).join(', ')}`);
console.log(`   second run: ${again.filter((e) => e.type === 'job-settled').map((e) => `${e.jobId} ${e.state}`).join(', ')}`);

const dur = (e) => (e.at - e.startedAt) / 1000;
const perArch = (arch) => finished.filter((e) => e.arch === arch).reduce((s, e) => s + dur(e), 0);
console.log(`\n== timings (${suite}, ${availableParallelism()} cores, one job at a time)`);
console.log(`   env create amd64:   ${createAmd64}`);
console.log(`   env create riscv64: ${createRiscv64}`);
console.log(`   whole run, both arches: ${bothS} s`);
console.log(`   notes@all: ${dur(finished.find((e) => e.jobId === 'notes@all')).toFixed(1)} s`);
for (const name of [...new Set(finished.filter((e) => e.arch !== 'all').map((e) => e.name))]) {
  const a = finished.find((e) => e.name === name && e.arch === 'amd64');
  const r = finished.find((e) => e.name === name && e.arch === 'riscv64');
  console.log(`   ${name}: amd64 ${dur(a).toFixed(1)} s, riscv64 ${dur(r).toFixed(1)} s, slowdown ${(dur(r) / dur(a)).toFixed(1)}x`);
}
console.log(`   all jobs per arch: amd64 ${perArch('amd64').toFixed(1)} s, riscv64 ${perArch('riscv64').toFixed(1)} s, slowdown ${(perArch('riscv64') / perArch('amd64')).toFixed(1)}x`);
JS
echo "test-riscv64: OK"
