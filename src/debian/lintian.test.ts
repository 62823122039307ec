import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lintianSummary, parseLintian } from './lintian.ts';

test('parseLintian: tag lines of every kind, and nothing else', () => {
  const out = [
    'W: hello: changelog-distribution-does-not-match-changes-file unstable != bookworm [usr/share/doc/hello/changelog.Debian.gz:1]',
    'W: hello changes: distribution-and-changes-mismatch bookworm unstable',
    'E: libfoo1 binary: shared-library-lacks-version libfoo.so',
    'I: hello source: out-of-date-standards-version 4.1.0 (released 2017-08-13) (current is 4.6.2)',
    'P: hello: no-homepage-field',
    'N: some explanation line',
    'running with root privileges is not recommended!',
    '',
  ].join('\n');
  const tags = parseLintian(out);
  assert.deepEqual(tags.map((t) => [t.code, t.package, t.tag, t.info]), [
    ['W', 'hello', 'changelog-distribution-does-not-match-changes-file', 'unstable != bookworm [usr/share/doc/hello/changelog.Debian.gz:1]'],
    ['W', 'hello', 'distribution-and-changes-mismatch', 'bookworm unstable'],
    ['E', 'libfoo1', 'shared-library-lacks-version', 'libfoo.so'],
    ['I', 'hello', 'out-of-date-standards-version', '4.1.0 (released 2017-08-13) (current is 4.6.2)'],
    ['P', 'hello', 'no-homepage-field', ''],
  ]);
  assert.equal(lintianSummary(tags), '1 error, 2 warnings (W: changelog-distribution-does-not-match-changes-file, W: distribution-and-changes-mismatch, E: shared-library-lacks-version)');
  assert.equal(lintianSummary([]), 'clean');
  assert.equal(lintianSummary(tags.filter((t) => t.code === 'P')), 'no errors or warnings (1 other tag)');
});

test('filesOfChanges: the Files field\'s names, plain ones only', async () => {
  const { filesOfChanges } = await import('./lintian.ts');
  const text = [
    'Format: 1.8',
    'Checksums-Sha256:',
    ' aaaa 100 hello_2.10-3_amd64.deb',
    'Files:',
    ' 1111 100 devel optional hello_2.10-3_amd64.deb',
    ' 2222 50 devel optional hello-dbgsym_2.10-3_amd64.deb',
    ' 3333 10 devel optional ../../../etc/passwd',
    ' 4444 10 devel optional .hidden',
    'Other: x',
  ].join('\n');
  assert.deepEqual(filesOfChanges(text), ['hello_2.10-3_amd64.deb', 'hello-dbgsym_2.10-3_amd64.deb']);
});

test('copyChangesFiles: the .changes and the regular files it lists, never a symlink (a build could point one at a host file)', async () => {
  const { mkdtemp, mkdir, symlink, writeFile, readdir, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { copyChangesFiles } = await import('./lintian.ts');
  const dir = await mkdtemp(join(tmpdir(), 'kiln-lintian-test-'));
  try {
    await mkdir(join(dir, 'in'));
    await mkdir(join(dir, 'out'));
    await writeFile(join(dir, 'in', 'x_1_amd64.changes'), 'Format: 1.8\nFiles:\n 0 1 devel optional x_1_amd64.deb\n 0 1 devel optional shadow.deb\n 0 1 devel optional sub\n 0 1 devel optional gone.deb\n');
    await writeFile(join(dir, 'in', 'x_1_amd64.deb'), 'a deb');
    await symlink('/etc/hostname', join(dir, 'in', 'shadow.deb'));
    await mkdir(join(dir, 'in', 'sub'));
    await writeFile(join(dir, 'in', 'unlisted.deb'), 'not listed');
    assert.deepEqual(await copyChangesFiles(join(dir, 'in'), 'x_1_amd64.changes', join(dir, 'out')), ['x_1_amd64.changes', 'x_1_amd64.deb']);
    assert.deepEqual((await readdir(join(dir, 'out'))).sort(), ['x_1_amd64.changes', 'x_1_amd64.deb']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('runLintian never throws, and as root copies only regular files the .changes lists (a symlink to a host file is not followed)', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const { mkdtemp, mkdir, symlink, writeFile, readdir, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { runLintian } = await import('./lintian.ts');
  const dir = await mkdtemp(join(tmpdir(), 'kiln-lintian-test-'));
  try {
    await writeFile(join(dir, 'x_1_amd64.changes'), 'Format: 1.8\nFiles:\n 0 1 devel optional x_1_amd64.deb\n 0 1 devel optional shadow.deb\n');
    await writeFile(join(dir, 'x_1_amd64.deb'), 'not really a deb');
    await symlink('/etc/shadow', join(dir, 'shadow.deb'));
    await mkdir(join(dir, 'sub'));
    // Watch what lands in the copy while lintian runs.
    const seen = new Set<string>();
    const watch = setInterval(async () => {
      for (const d of (await readdir(tmpdir())).filter((n) => n.startsWith('kiln-lintian-') && !n.startsWith('kiln-lintian-test-'))) {
        for (const f of await readdir(join(tmpdir(), d, 'in')).catch(() => [] as string[])) seen.add(f);
      }
    }, 5);
    const r = await runLintian('x_1_amd64.changes', { dir });
    clearInterval(watch);
    assert.ok(!seen.has('shadow.deb'), `a symlink was followed: ${[...seen].join(', ')}`);
    assert.ok(Array.isArray(r.tags));
    // A .changes that is not there: an error, not a throw.
    const missing = await runLintian('nope.changes', { dir });
    assert.match(missing.error ?? '', /could not run lintian: .*nope\.changes/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
