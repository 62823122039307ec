import assert from 'node:assert/strict';
import { test } from 'node:test';
import { debianRootArgv, makeDebianRoot, releaseComponents, repoLine } from './debian.ts';
import { KilnError } from '../errors.ts';

const base = { suite: 'trixie', arch: 'riscv64', variant: 'minbase', mirror: 'http://deb.example/debian', include: ['hello', 'kilnpkg'], target: '/out/.root.kiln-tmp-x/root' };

test('debianRootArgv: the suite from the mirror with the packages, no extra source without a repository; not this machine\'s hostname and resolv.conf', () => {
  assert.deepEqual(debianRootArgv(base), [
    'mmdebstrap', '--variant=minbase', '--arch=riscv64', '--include=hello,kilnpkg',
    '--customize-hook=echo localhost > "$1/etc/hostname"', '--customize-hook=if [ ! -L "$1/etc/resolv.conf" ] && cmp -s /etc/resolv.conf "$1/etc/resolv.conf"; then rm -f "$1/etc/resolv.conf"; fi',
    'trixie', '/out/.root.kiln-tmp-x/root', 'http://deb.example/debian',
  ]);
});

test('debianRootArgv: kiln\'s repository as a second source (copy:, signed-by the exported key), taken out of the finished root', () => {
  const argv = debianRootArgv({ ...base, repo: { dir: '/st/repo', keyFile: '/out/.root.kiln-tmp-x/kiln-repo.gpg', components: ['main'] } });
  const line = 'deb [signed-by=/out/.root.kiln-tmp-x/kiln-repo.gpg] copy:/st/repo trixie main';
  assert.deepEqual(argv.slice(-4), ['trixie', '/out/.root.kiln-tmp-x/root', 'http://deb.example/debian', line]);
  const hook = argv.find((a) => a.startsWith('--customize-hook=grep'));
  assert.ok(hook !== undefined && argv.indexOf(hook) < argv.indexOf('trixie'), 'the hook is an option, before the suite');
  assert.ok(hook.includes(`grep -vxF '${line}' "$1/etc/apt/sources.list"`), hook);
});

test('repoLine: a repository path with spaces is percent-encoded (apt splits the line at whitespace); every component of the suite', () => {
  assert.equal(
    repoLine({ dir: '/home/me/my project/.kiln/repo', keyFile: '/tmp/kiln-rootfs-key-x/kiln-repo.gpg', components: ['main', 'extra'] }, 'trixie'),
    'deb [signed-by=/tmp/kiln-rootfs-key-x/kiln-repo.gpg] copy:/home/me/my%20project/.kiln/repo trixie main extra',
  );
  assert.throws(() => repoLine({ dir: '/st/repo', keyFile: '/a b/k.gpg', components: ['main'] }, 'trixie'), /whitespace/);
});

test('releaseComponents: the Components field of kiln\'s repository\'s Release, main when it has none', () => {
  assert.deepEqual(releaseComponents('Origin: kiln\nSuite: trixie\nComponents: extra main\nArchitectures: amd64\n'), ['extra', 'main']);
  assert.deepEqual(releaseComponents('Origin: kiln\n'), ['main']);
});

test('makeDebianRoot without root says it needs root, before anything else', async () => {
  await assert.rejects(makeDebianRoot({ out: '/nonexistent/out', packages: ['hello'], suite: 'trixie', arch: 'amd64', variant: 'minbase', stateRoot: '/nonexistent', force: false, tar: false, root: false }), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === 'usage', String(e));
    assert.match(e.message, /^kiln rootfs --debian needs root/);
    return true;
  });
});

test('debianRootArgv: --no-check-valid-until reaches mmdebstrap\'s apt (a snapshot mirror past its Valid-Until)', () => {
  assert.ok(debianRootArgv({ ...base, checkValidUntil: false }).includes('--aptopt=Acquire::Check-Valid-Until "false"'));
  assert.ok(!debianRootArgv(base).some((a) => a.includes('Check-Valid-Until')));
});
