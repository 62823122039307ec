import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockedCounts, errorLine, fixFirst, mayBeEmulator, normaliseError, triageFailures, triageLines } from './failure-triage.ts';
import type { ReportPackage, RunReport } from './report.ts';

test('errorLine: the first line of the most telling kind, kiln\'s log prefix taken off; make\'s echo only when nothing else says why', () => {
  const rows: [string[], string | undefined][] = [
    [['[   1.000] o gcc -c a.c', '[   1.100] e a.c:3:10: fatal error: zlib.h: No such file or directory', '[   1.100] e compilation terminated.', '[   1.200] e make: *** [Makefile:4: a.o] Error 1'], 'a.c:3:10: fatal error: zlib.h: No such file or directory'],
    [['[   2.000] e x.c:1:1: error: unknown type name \'foo\'', '[   2.000] e x.c:2:1: error: expected \';\''], 'x.c:1:1: error: unknown type name \'foo\''],
    [['[   3.000] o linking', '[   3.100] e /usr/bin/ld: main.o: undefined reference to `png_create_read_struct\''], '/usr/bin/ld: main.o: undefined reference to `png_create_read_struct\''],
    [['[   0.100] e ./build.sh: line 3: cmake: command not found', '[   0.101] k failed: the build script exited with status 127'], './build.sh: line 3: cmake: command not found'],
    [['[   9.000] o all fine until', '[   9.100] e make: *** [Makefile:9: all] Error 2', '[   9.101] k failed: the build script exited with status 2'], 'make: *** [Makefile:9: all] Error 2'],
    [['[   0.300] e patching file greeting.txt', '[   0.300] e Hunk #1 FAILED at 1.', '[   0.300] e 1 out of 1 hunk FAILED -- rejects in file greeting.txt', '[   0.301] e dpkg-source: error: LC_ALL=C patch -t -F 0 -N -p1 -u -V never -E -b -B .pc/greeting.patch/ --reject-file=- < kwalk-1.0/debian/patches/greeting.patch subprocess returned exit status 1'], '1 out of 1 hunk FAILED -- rejects in file greeting.txt'],
    [['[   0.000] k ==> phase build at 2026-11-23T01:57:55.572Z', '[   0.100] o nothing telling here', '[   0.101] k note: the download failed once'], undefined],
    [['[   0.100] e tool: no config found', '[   0.100] o bye', '[   0.101] k failed: the build script exited with status 3'], 'tool: no config found'],
    [[], undefined],
    // make's (or set -x's) echo of a command that prints an error: the output, not the command.
    [['[   0.100] o echo "error: deliberate failure"; false', '[   0.100] o error: deliberate failure', '[   0.101] e make: *** [debian/rules:4: build] Error 1'], 'error: deliberate failure'],
    [['[   0.100] e + printf \'ERROR: no config\\n\'', '[   0.100] o ERROR: no config'], 'ERROR: no config'],
    // A sandbox that could not mount: mount's own line, not its pointer to dmesg after it.
    [['[   0.128] e mount: /s/work/r/a_amd64/root/merged/var/cache/kiln/downloads: special device /s/cache/downloads does not exist.', '[   0.128] e        dmesg(1) may have more information after failed mount system call.', '[   0.187] k failed: the chroot sandbox of job r-a@amd64 failed to start (status 64)'], 'mount: /s/work/r/a_amd64/root/merged/var/cache/kiln/downloads: special device /s/cache/downloads does not exist.'],
  ];
  for (const [tail, want] of rows) assert.equal(errorLine(tail), want, tail.join(' | '));
});

test('normaliseError: paths keep their last part, numbers and temporary names go; the message and quoted names stay', () => {
  const rows: [string, string][] = [
    ['/build/libfoo-1.2/src/a.c:12:5: fatal error: zlib.h: No such file or directory', 'fatal error: zlib.h: No such file or directory'],
    ['/tmp/kiln/x/bee.c:3:10: fatal error: zlib.h: No such file or directory', 'fatal error: zlib.h: No such file or directory'],
    ['/usr/bin/ld: /tmp/ccAbC123.o: undefined reference to `png_read\'', 'ld: undefined reference to `png_read\''],
    ['CMake Error at /build/x/CMakeLists.txt:12 (find_package):', 'CMake Error at CMakeLists.txt:N (find_package):'],
    ['segfault at 0x7ffd1234 ip 0000deadbeef0000', 'segfault at HEX ip HASH'],
    ['the NATS server at nats://127.0.0.1:14222 no longer has kiln\'s streams', 'the NATS server at nats://… no longer has kiln\'s streams'],
    ['curl: (22) The requested URL returned error: 404 for https://example.invalid/a/b-1.2.tar.gz', 'curl: (N) The requested URL returned error: N for https://…/b-N.N.tar.gz'],
    ['recipe.toml: sources[0].sha256: checksum mismatch for mirror://debian/pool/main/z/zlib/zlib_1.3.dfsg.orig.tar.bz2: expected aa', 'recipe.toml: sources[N].sha256: checksum mismatch for mirror://…/zlib_N.N.dfsg.orig.tar.bz2: expected aa'],
    ['gcc: error: unrecognized option -m64 on x86_64 (in lib64/foo2.c)', 'gcc: error: unrecognized option -m64 on x86_N (in foo2.c)'],
    ['test timed out after 150s using 512MB', 'test timed out after Ns using NMB'],
  ];
  for (const [line, want] of rows) assert.equal(normaliseError(line), want, line);
  assert.equal(normaliseError('x'.repeat(400)).length, 300);
});

function pkg(name: string, state: ReportPackage['state'], extra: Partial<ReportPackage> = {}): ReportPackage {
  return { name, version: '1', arch: 'amd64', state, why: null, cause: null, durationMs: null, log: state === 'failed' ? `/logs/${name}.log` : null, artifact: null, ...extra };
}

function report(packages: ReportPackage[]): RunReport {
  return { runId: 'r', start: '2026-11-23T00:00:00.000Z', end: '2026-11-23T00:01:00.000Z', counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, packages };
}

test('triageFailures: blocks per failure, its error line, groups by normalised error (biggest first); no failures, no change', () => {
  const r = report([
    pkg('liba', 'failed', { reason: 'exit-status' }),
    pkg('libb', 'failed', { reason: 'exit-status' }),
    pkg('slow', 'failed', { reason: 'timeout' }),
    pkg('app1', 'skipped', { skippedBecause: ['libb@amd64'] }),
    pkg('app2', 'skipped', { skippedBecause: ['libb@amd64'] }),
    pkg('app3', 'skipped', { skippedBecause: ['liba@amd64'] }),
    pkg('ok', 'built'),
  ]);
  assert.deepEqual([...blockedCounts(r.packages)], [['libb@amd64', 2], ['liba@amd64', 1]]);
  const tails: Record<string, string[]> = {
    '/logs/liba.log': ['[   1.000] e /build/liba-1/a.c:3:10: fatal error: zlib.h: No such file or directory'],
    '/logs/libb.log': ['[   1.000] e /build/libb-2/src/b.c:7:1: fatal error: zlib.h: No such file or directory'],
    '/logs/slow.log': ['[   1.000] o still going', '[7200.000] k killed: timeout'],
  };
  const t = triageFailures(r, (p) => tails[p.log ?? ''] ?? []);
  const of = (n: string) => t.packages.find((p) => p.name === n)!;
  assert.equal(of('libb').blocks, 2);
  assert.equal(of('liba').blocks, 1);
  assert.equal(of('slow').blocks, 0);
  assert.equal(of('liba').errorLine, '/build/liba-1/a.c:3:10: fatal error: zlib.h: No such file or directory');
  assert.equal(of('slow').errorLine, undefined);
  assert.equal(of('ok').blocks, undefined, 'only failures get the fields');
  assert.deepEqual(t.failureGroups, [
    { signature: 'fatal error: zlib.h: No such file or directory', jobs: ['libb@amd64', 'liba@amd64'], blocks: 3 },
    { signature: '(timeout: no error line in its log)', jobs: ['slow@amd64'], blocks: 0 },
  ]);
  assert.deepEqual(fixFirst(t, 3), [{ job: 'libb@amd64', blocks: 2 }, { job: 'liba@amd64', blocks: 1 }]);
  const clean = report([pkg('ok', 'built')]);
  assert.equal(triageFailures(clean, () => []), clean);
  assert.deepEqual(triageLines(clean), []);
});

test('triageFailures: a failure whose log says nothing telling has its cause as error line; different causes are different groups', () => {
  const r = report([
    pkg('zlib', 'failed', { reason: 'fetch-failed', cause: 'sha256 mismatch for https://h.example/zlib.tar.gz: expected aaaa, got bbbb\nnothing was stored' }),
    pkg('evil', 'failed', { reason: 'fetch-failed', cause: 'archive evil.tar: member evil is a link to /etc/passwd, outside $SRCDIR' }),
    pkg('png', 'failed', { reason: 'fetch-failed', cause: 'sha256 mismatch for https://h.example/png.tar.gz: expected cccc, got dddd' }),
  ]);
  const tail = ['[   0.000] k ==> phase fetch at 2026-11-23T01:57:55.572Z', '[   0.100] k failed: whatever it says'];
  const t = triageFailures(r, () => tail);
  assert.equal(t.packages.find((p) => p.name === 'zlib')!.errorLine, 'sha256 mismatch for https://h.example/zlib.tar.gz: expected aaaa, got bbbb');
  assert.deepEqual(t.failureGroups?.map((g) => [g.signature, g.jobs]), [
    ['sha256 mismatch for https://…/zlib.tar.gz: expected aaaa, got bbbb', ['zlib@amd64']],
    ['sha256 mismatch for https://…/png.tar.gz: expected cccc, got dddd', ['png@amd64']],
    ['archive evil.tar: member evil is a link to passwd, outside $SRCDIR', ['evil@amd64']],
  ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
});

test('triageLines: the failures holding back most, and an error several failed with', () => {
  const r = report([
    pkg('liba', 'failed'), pkg('libb', 'failed'), pkg('libc', 'failed'),
    pkg('app', 'skipped', { skippedBecause: ['libc@amd64'] }),
  ]);
  const same = ['[   0.500] e x.c:1:1: fatal error: gl.h: No such file or directory'];
  const t = triageFailures(r, () => same);
  assert.deepEqual(triageLines(t), [
    'fix first: libc@amd64 (holds back 1)',
    '3 failed alike: fatal error: gl.h: No such file or directory (libc@amd64, liba@amd64, libb@amd64)',
  ]);
});

test('a huge log line is cut before any pattern looks at it, and a log that cannot be read gives no error line (the report is still made)', () => {
  const started = performance.now();
  const huge = `[   1.000] e error: ${'a'.repeat(300_000)}`;
  const line = errorLine([huge]);
  assert.ok(line !== undefined && line.length <= 1000);
  assert.ok(normaliseError(`x${'b'.repeat(300_000)}`).length <= 300);
  assert.ok(performance.now() - started < 5000, 'no regex runs for long on it (it took tens of seconds before the cut)');
  const r = report([pkg('liba', 'failed'), pkg('libb', 'failed')]);
  const t = triageFailures(r, (p) => {
    if (p.name === 'liba') throw new Error('EIO');
    return ['[   0.100] e x.c:1:1: fatal error: y.h: No such file or directory'];
  });
  assert.equal(t.packages.find((p) => p.name === 'liba')?.errorLine, undefined);
  assert.equal(t.packages.find((p) => p.name === 'libb')?.errorLine, 'x.c:1:1: fatal error: y.h: No such file or directory');
});

test('QEMU user emulation failing is the error line before the package\'s own errors, and the run\'s end says so', () => {
  const rows: [string[], string | undefined][] = [
    [['[  10.000] e make: *** [Makefile:3: test] Error 132', '[   9.000] e qemu: uncaught target signal 4 (Illegal instruction) - core dumped', '[   9.100] e test.c:1: error: test failed'], 'qemu: uncaught target signal 4 (Illegal instruction) - core dumped'],
    // A program of the build dying of a signal is reported so by qemu too: the package's own error stays the cause.
    [['[   9.000] e qemu: uncaught target signal 6 (Aborted) - core dumped', '[   9.001] o PASS: test-assert-death', '[   9.100] e test-float.c:42: error: precision lost', '[   9.200] o FAIL: test-float'], 'test-float.c:42: error: precision lost'],
    [['[   1.000] e qemu-riscv64-static: Unsupported syscall: 441', '[   1.100] e error: cannot open file'], 'qemu-riscv64-static: Unsupported syscall: 441'],
    [['[   1.000] e qemu: unhandled CPU exception 0x10 - aborting'], 'qemu: unhandled CPU exception 0x10 - aborting'],
    [['[   1.000] e error: something', '[   1.001] e QEMU internal SIGSEGV {code=MAPERR, addr=0x20}'], 'QEMU internal SIGSEGV {code=MAPERR, addr=0x20}'],
    // A package's own mention of qemu is not the emulator failing.
    [['[   1.000] o checking for qemu: no', '[   1.100] e configure: error: qemu not found'], 'configure: error: qemu not found'],
  ];
  for (const [tail, want] of rows) assert.equal(errorLine(tail), want, tail.join(' | '));
  const r = report([pkg('gawk', 'failed', { arch: 'riscv64' }), pkg('sed', 'failed', { arch: 'riscv64' }), pkg('own', 'failed')]);
  const tails: Record<string, string[]> = {
    '/logs/gawk.log': ['[   3.000] e qemu: uncaught target signal 4 (Illegal instruction) - core dumped', '[   3.100] e FAIL: test-float'],
    '/logs/sed.log': ['[   2.000] e qemu-riscv64-static: Unsupported syscall: 441'],
    '/logs/own.log': ['[   1.000] e a.c:1:1: error: expected \';\''],
  };
  const t = triageFailures(r, (p) => tails[p.log ?? ''] ?? []);
  assert.deepEqual(t.packages.map((p) => [p.name, p.underEmulation ?? false]), [['gawk', true], ['sed', true], ['own', false]]);
  assert.ok(triageLines(t).includes("2 failed where QEMU's user emulation may have failed (their logs say qemu: …, or a program died of an illegal instruction under it): gawk@riscv64, sed@riscv64; the emulator may be at fault, not the package: build them on a native machine of their arch (a kiln worker there) to tell"), triageLines(t).join('\n'));
});

test('mayBeEmulator: an illegal instruction under QEMU emulation (SIGILL, exit 132, the shell\'s "Illegal instruction") may be the emulator\'s, where qemu said nothing; natively it is the program\'s', () => {
  const emulated = { buildMode: 'emulated' } as const;
  const rows: [string, Pick<ReportPackage, 'buildMode' | 'cause'>, string | undefined, boolean][] = [
    ['killed by SIGILL under emulation', { ...emulated, cause: 'the build script was killed by SIGILL' }, 'some other line', true],
    ['dpkg-buildpackage killed by SIGILL under emulation', { ...emulated, cause: 'dpkg-buildpackage was killed by SIGILL' }, undefined, true],
    ['exit 132 (the shell after SIGILL) under emulation', { ...emulated, cause: 'the build script exited with status 132' }, './build.sh: line 3: 4242 Illegal instruction     (core dumped) ./gen-tables', true],
    ['the shell\'s line as the error line, make exiting 2, under emulation', { ...emulated, cause: 'the build script exited with status 2' }, 'bash: line 1:  77 Illegal instruction     ./conftest', true],
    ['dash\'s word for it', { ...emulated, cause: 'the build script exited with status 2' }, 'Illegal instruction', true],
    ['a retried one: its first line says it', { ...emulated, cause: 'the build script was killed by SIGILL (attempt 2; the earlier one failed too: the build script was killed by SIGILL)' }, undefined, true],
    ['natively SIGILL is the program\'s own', { cause: 'the build script was killed by SIGILL' }, './build.sh: line 3: 4242 Illegal instruction     (core dumped) ./gen-tables', false],
    ['cross-built: no emulator ran it', { buildMode: 'cross', cause: 'the build script exited with status 132' }, 'Illegal instruction', false],
    ['another signal under emulation', { ...emulated, cause: 'the build script was killed by SIGSEGV' }, 'Segmentation fault', false],
    ['another status under emulation', { ...emulated, cause: 'the build script exited with status 1' }, 'a.c:1:1: error: expected \';\'', false],
    ['status 1320 is not 132', { ...emulated, cause: 'the build script exited with status 1320' }, undefined, false],
    ['qemu\'s own line, whatever the mode (as before)', { cause: 'the build script exited with status 2' }, 'qemu: uncaught target signal 4 (Illegal instruction) - core dumped', true],
  ];
  for (const [name, p, line, want] of rows) assert.equal(mayBeEmulator(p, line), want, name);
  // Through the report: qemu 7.2 printed nothing, the emulated job is marked; the same failure natively is not.
  const r = report([
    pkg('gawk', 'failed', { arch: 'riscv64', buildMode: 'emulated', reason: 'signal', cause: 'the build script was killed by SIGILL' }),
    pkg('sed', 'failed', { arch: 'riscv64', buildMode: 'emulated', reason: 'exit-status', cause: 'the build script exited with status 132' }),
    pkg('native', 'failed', { reason: 'signal', cause: 'the build script was killed by SIGILL' }),
  ]);
  const tails: Record<string, string[]> = {
    '/logs/gawk.log': ['[   3.000] o running gen-tables', '[   3.100] k failed: the build script was killed by SIGILL'],
    '/logs/sed.log': ['[   2.000] o checking for zbb', '[   2.001] e ./build.sh: line 3:  4242 Illegal instruction     (core dumped) ./conftest', '[   2.002] k failed: the build script exited with status 132'],
    '/logs/native.log': ['[   3.100] k failed: the build script was killed by SIGILL'],
  };
  const t = triageFailures(r, (p) => tails[p.log ?? ''] ?? []);
  assert.deepEqual(t.packages.map((p) => [p.name, p.underEmulation ?? false, p.errorLine]), [
    ['gawk', true, 'the build script was killed by SIGILL'],
    ['sed', true, './build.sh: line 3:  4242 Illegal instruction     (core dumped) ./conftest'],
    ['native', false, 'the build script was killed by SIGILL'],
  ]);
  assert.ok(triageLines(t).some((l) => l.startsWith("2 failed where QEMU's user emulation may have failed") && l.includes('gawk@riscv64, sed@riscv64;')), triageLines(t).join('\n'));
});
