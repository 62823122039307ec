// riscv64 under QEMU, for real: a local C source built natively in a sid riscv64 env
// (mmdebstrap through qemu-user-static and binfmt_misc), the way a user builds for a
// riscv64 board on an amd64 machine. The program is compiled and run inside the build (it
// prints the machine it runs on), the .deb is riscv64, and its binary is RISC-V code.
//
// sid, with --no-check-valid-until: the mirror a machine has may be a snapshot frozen past
// sid's Valid-Until (a stable release has none, but bookworm has no riscv64 and trixie's
// riscv64 index on such a mirror may not match its Release). Slow (minutes: the env is made
// once, then kept in $KILN_TEST_ENVS): skipped as the other Debian tests are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';

const skip = sharedEnvSkip();

test('riscv64 under QEMU: a C source built in a sid riscv64 env runs as riscv64 and makes a riscv64 .deb of RISC-V code', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv('sid-riscv64', 'sid', 'riscv64', ['--no-check-valid-until']);
  await using dir = await tmpDir('kiln-debian-riscv64-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const dsc = await makeSource(src, 'kiln-rv', {
    arch: 'any',
    buildDepends: 'make',
    control: 'Package: kiln-rv\nArchitecture: any\nDepends: ${shlibs:Depends}\nDescription: kiln riscv64 test program\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\tcc -O2 -o kiln-rv rv.c\n\t./kiln-rv\nclean:\n\trm -rf debian/tmp debian/files kiln-rv\nbinary binary-arch binary-indep: build\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/bin\n\tinstall -m755 kiln-rv debian/tmp/usr/bin/\n\tdpkg-gencontrol -pkiln-rv -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { 'rv.c': '#include <stdio.h>\n#include <sys/utsname.h>\nint main(void) { struct utsname u; uname(&u); printf("kiln-rv runs on %s\\n", u.machine); return 0; }\n' },
  });
  const state = join(dir.path, 'state');
  // --verify too: it reads the suite as the run does (a snapshot's expired Release taken), and the repository is published.
  const built = await runKiln(['build', '--debian', 'sid', '--arch', 'riscv64', '--dsc', dsc, '--no-check-valid-until', '--verify', '--state', state, '--cache', join(dir.path, 'cache'), '--json'], { env: envs, timeoutMs: 25 * 60_000 });
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 1, explain(built));
  const log = jobLogOf(built, 'kiln-rv');
  assert.match(log, /kiln-rv runs on riscv64/, 'the program ran as riscv64 (under QEMU) in the build');
  const packages = readFileSync(join(state, 'repo', 'dists', 'sid', 'main', 'binary-riscv64', 'Packages'), 'utf8');
  const file = /^Filename: (.*kiln-rv_1\.0_riscv64\.deb)$/m.exec(packages)?.[1];
  assert.ok(file !== undefined, packages);
  const unpacked = join(dir.path, 'unpacked');
  execFileSync('dpkg-deb', ['-x', join(state, 'repo', file), unpacked]);
  // ELF e_machine 243 (0xf3): RISC-V.
  const elf = readFileSync(join(unpacked, 'usr', 'bin', 'kiln-rv'));
  assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.equal(elf.readUInt16LE(18), 243, 'a RISC-V binary');
});
