// options.ts: the command line's parsers of shared options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { checkMirrorUrl, debianFrom, formatMs, refuseRepeats, parseArchList, parseLogLimit, parsePositive, parseRange, profilesOf } from './options.ts';

test('parseArchList: Debian arch names, each once, in the order given', () => {
  assert.deepEqual(parseArchList('amd64'), ['amd64']);
  assert.deepEqual(parseArchList('amd64,amd64'), ['amd64']);
  assert.deepEqual(parseArchList(' riscv64, amd64 ,riscv64,'), ['riscv64', 'amd64']);
  assert.deepEqual(parseArchList('hurd-amd64,x32'), ['hurd-amd64', 'x32']);
});

test('parseArchList: a name dpkg does not know is a usage error with the likely name', () => {
  const cases: [string, string, RegExp][] = [
    ['amd65', 'amd65', /^did you mean "amd64"\?/],
    ['amd64,x86-64', 'x86-64', /^did you mean "amd64"\?/],
    ['AMD64', 'AMD64', /^did you mean "amd64"\?.*lowercase/],
    ['hurd-x86', 'hurd-x86', /^did you mean "hurd-i386"\?/],
    ['sparc128', 'sparc128', /^Debian architecture names/],
    ['any', 'any', /^Debian architecture names/],
  ];
  for (const [text, bad, hint] of cases) {
    assert.throws(() => parseArchList(text), (e: unknown) => {
      assert.ok(e instanceof KilnError);
      assert.equal(e.code, 'usage');
      assert.equal(e.message, `--arch: "${bad}" is not a Debian architecture name (e.g. amd64,riscv64)`);
      assert.match(e.hint ?? '', hint);
      return true;
    }, text);
  }
  assert.throws(() => parseArchList(' , '), /give at least one architecture/);
});

test('--dsc takes one file and may repeat: the source names after it stay arguments', async () => {
  const { Command } = await import('commander');
  const { addDebianOptions } = await import('./options.ts');
  let got: { args: string[]; dsc: unknown } | undefined;
  const cmd = addDebianOptions(new Command('build').argument('[targets...]'), { all: false }).action((args: string[], opts: { dsc?: string[] }) => {
    got = { args, dsc: opts.dsc };
  });
  await cmd.parseAsync(['--debian', 'bookworm', '--dsc', 'a.dsc', 'libmd', '--dsc', 'b.dsc', 'hello'], { from: 'user' });
  assert.deepEqual(got, { args: ['libmd', 'hello'], dsc: ['a.dsc', 'b.dsc'] });
});

/** The usage error `f` throws: its message (asserting the code). */
function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof KilnError, String(e));
    assert.equal(e.code, 'usage');
    return e.message;
  }
  assert.fail('no error');
}

test('parseArchList and profilesOf: an empty item in the middle is refused, a trailing comma is fine', () => {
  assert.equal(usageMessage(() => parseArchList('amd64,,arm64')), '--arch: "amd64,,arm64" has an empty item');
  assert.equal(usageMessage(() => parseArchList(',amd64')), '--arch: ",amd64" has an empty item');
  assert.deepEqual(parseArchList('amd64,arm64,'), ['amd64', 'arm64']);
  assert.equal(usageMessage(() => profilesOf('')), '--profiles: "" has an empty name');
  assert.equal(usageMessage(() => profilesOf('nocheck,,nodoc')), '--profiles: "nocheck,,nodoc" has an empty name');
  assert.deepEqual(profilesOf('nocheck,'), ['nocheck']);
  assert.deepEqual(profilesOf(undefined), []);
});

test('number parsers name their own flag; --max-priority stops at 100', async () => {
  assert.equal(usageMessage(() => parsePositive('--max-concurrent-builds')('0')), '--max-concurrent-builds: expected a whole number of at least 1, got "0"');
  assert.equal(usageMessage(() => parseRange('--max-priority', 0, 100)('101')), '--max-priority: 101 is too large (at most 100)');
  assert.equal(usageMessage(() => parseRange('--max-priority', 0, 100)('-1')), '--max-priority: expected a whole number from 0 to 100, got "-1"');
  assert.equal(parseRange('--max-priority', 0, 100)('100'), 100);
  // --cpus of the Debian options, through commander as the CLI parses it.
  const { Command } = await import('commander');
  const { addDebianOptions } = await import('./options.ts');
  const cmd = addDebianOptions(new Command('build').exitOverride(), { all: false });
  assert.throws(() => cmd.parse(['--cpus', '0'], { from: 'user' }), (e: unknown) => e instanceof KilnError && e.message === '--cpus: expected a whole number of at least 1, got "0"');
});

test('--binnmu: a number from 1 to 999, or auto', async () => {
  const { parseBinnmu } = await import('./options.ts');
  assert.equal(parseBinnmu('3'), 3);
  assert.equal(parseBinnmu('auto'), 'auto');
  assert.equal(usageMessage(() => parseBinnmu('0')), '--binnmu: expected a number from 1 to 999 or auto, got "0"');
  assert.equal(usageMessage(() => parseBinnmu('Auto')), '--binnmu: expected a number from 1 to 999 or auto, got "Auto"');
});

test('--log-limit: 0 (no limit) or at least 1M', () => {
  assert.equal(parseLogLimit('0'), 0);
  assert.equal(parseLogLimit('1M'), 1024 ** 2);
  assert.equal(usageMessage(() => parseLogLimit('1.5')), '--log-limit: "1.5" is 1 byte, less than the least --log-limit takes, 1 MiB');
  assert.equal(usageMessage(() => parseLogLimit('100K')), '--log-limit: "100K" is 102400 bytes, less than the least --log-limit takes, 1 MiB');
});

test('--mirror: an http, https or file URL with a host, checked up front', () => {
  for (const ok of ['http://mirror.example/debian', 'https://mirror.example:8443/debian/', 'file:///srv/mirror/debian', undefined]) checkMirrorUrl('--mirror', ok);
  assert.equal(usageMessage(() => checkMirrorUrl('--mirror', 'notaurl')), '--mirror: "notaurl" is not an http://, https:// or file:// URL');
  assert.equal(usageMessage(() => checkMirrorUrl('--mirror', 'ftp://x/debian')), '--mirror: "ftp://x/debian" is not an http://, https:// or file:// URL');
  assert.match(usageMessage(() => checkMirrorUrl('--mirror', 'https://')), /^--mirror: "https:\/\/" is not a valid URL/);
  assert.match(usageMessage(() => checkMirrorUrl('--mirror', 'http://a b/debian')), /^--mirror: "http:\/\/a b\/debian" is not a valid URL/);
  // Where build and plan read --debian's options.
  assert.equal(usageMessage(() => debianFrom({ debian: 'bookworm', mirror: 'notaurl' }, ['hello'], false)), '--mirror: "notaurl" is not an http://, https:// or file:// URL');
});

test('--cross: on plan and build, carried into the Debian request', async () => {
  const { Command } = await import('commander');
  const { addDebianOptions } = await import('./options.ts');
  for (const all of [true, false]) {
    const opts = addDebianOptions(new Command('x').exitOverride(), { all }).parse(['--debian', 'bookworm', '--cross'], { from: 'user' }).opts();
    assert.equal(debianFrom(opts, ['hello'], false)?.cross, true);
  }
  assert.equal(debianFrom({ debian: 'bookworm' }, ['hello'], false)?.cross, undefined);
});

test('refuseRepeats: a flag that takes one value, given twice, is a usage error', async () => {
  const { Command } = await import('commander');
  const make = () => refuseRepeats(new Command('gc').exitOverride().option('--older-than <d>', 'x', '30d').option('--keep <n>'), '--older-than');
  assert.equal(make().parse(['--older-than', '1d'], { from: 'user' }).opts()['olderThan'], '1d');
  assert.equal(make().parse([], { from: 'user' }).opts()['olderThan'], '30d');
  assert.throws(() => make().parse(['--older-than', '1d', '--older-than=2d'], { from: 'user' }), (e: unknown) => e instanceof KilnError && e.message === '--older-than is given more than once');
});

test('natsUrlOf: nats://, tls:// or bare HOST:PORT servers; another scheme is a usage error naming where it came from', async () => {
  const { natsUrlOf } = await import('./options.ts');
  assert.equal(natsUrlOf('nats://127.0.0.1:4222,tls://b:4222, c:4222', {}), 'nats://127.0.0.1:4222,tls://b:4222, c:4222');
  assert.equal(natsUrlOf(undefined, { KILN_NATS: ' ' }), undefined);
  assert.throws(() => natsUrlOf('http://127.0.0.1:8222', {}), /^KilnError: --nats: http:\/\/ is not a NATS URL \(http:\/\/127\.0\.0\.1:8222\)$/);
  assert.throws(() => natsUrlOf(undefined, { KILN_NATS: 'nats://a:1,ftp://u:secret@b:2' }), (e: unknown) => e instanceof Error && /^\$KILN_NATS: ftp:\/\/ is not a NATS URL \(ftp:\/\/…@b:2\)$/.test(e.message));
  // What no server address is: a usage error now, not "cannot reach" later.
  for (const bad of ['not a url', 'nats://', 'h:99999']) assert.throws(() => natsUrlOf(bad, {}), (e: unknown) => e instanceof Error && e.message === `--nats: ${JSON.stringify(bad)} is not a NATS server address`, bad);
  assert.throws(() => natsUrlOf(undefined, { KILN_NATS: 'nats://u:secret@' }), (e: unknown) => e instanceof Error && e.message === '$KILN_NATS: "nats://…@" is not a NATS server address');
  // No password in a message, with or without a scheme, an @ in it or not.
  assert.throws(() => natsUrlOf('alice:s3cret@nats.example:99999', {}), (e: unknown) => e instanceof Error && e.message === '--nats: "…@nats.example:99999" is not a NATS server address');
  assert.throws(() => natsUrlOf('nats://alice:p@ss@h:99999', {}), (e: unknown) => e instanceof Error && !/p@ss|alice/.test(e.message));
});

test('formatMs: rounded to the unit shown (never 60.0s, 5m60s or 59m60s)', () => {
  const rows: [number, string][] = [
    [0, '0ms'], [999.4, '999ms'], [999.6, '1.0s'], [12_340, '12.3s'], [59_949, '59.9s'], [59_999, '1m00s'],
    [119_999, '2m00s'], [359_999, '6m00s'], [185_000, '3m05s'], [3_599_999, '1h00m'], [5_400_000, '1h30m'],
  ];
  for (const [ms, want] of rows) assert.equal(formatMs(ms), want, String(ms));
});

test('collectComponentList: --components given twice adds up, in order, each once; an empty item or a bad name is refused', async () => {
  const { collectComponentList } = await import('./options.ts');
  assert.deepEqual(collectComponentList('main,contrib'), ['main', 'contrib']);
  assert.deepEqual(collectComponentList('contrib,non-free', collectComponentList('main,contrib')), ['main', 'contrib', 'non-free']);
  assert.deepEqual(collectComponentList(' contrib , main, '), ['contrib', 'main'], 'a trailing comma is fine; the order given is the lookup order');
  assert.throws(() => collectComponentList('main,,contrib'), /--components: "main,,contrib" has an empty item/);
  assert.throws(() => collectComponentList(','), /--components: give at least one component/);
  assert.throws(() => collectComponentList('main contrib'), /--components: "main contrib" is not an archive component name/);
});

test('collectArchList: --arch given twice adds up, each list checked, no arch twice', async () => {
  const { collectArchList } = await import('./options.ts');
  assert.deepEqual(collectArchList('arm64', collectArchList('amd64')), ['amd64', 'arm64']);
  assert.deepEqual(collectArchList('amd64,riscv64', ['amd64']), ['amd64', 'riscv64']);
  assert.throws(() => collectArchList('x86_64', ['amd64']), /not a Debian architecture name/);
});

test('--extra-package: repeatable on plan and build, each path made absolute and named as given; an empty one is refused', async () => {
  const { Command } = await import('commander');
  const { addDebianOptions } = await import('./options.ts');
  const { resolve } = await import('node:path');
  for (const all of [true, false]) {
    const opts = addDebianOptions(new Command('x').exitOverride(), { all }).parse(['--debian', 'bookworm', '--extra-package', 'debs/', '--extra-package', '/srv/a.deb'], { from: 'user' }).opts();
    assert.deepEqual(debianFrom(opts, ['hello'], false)?.extraPackages, [{ path: resolve('debs'), where: '--extra-package debs/' }, { path: '/srv/a.deb', where: '--extra-package /srv/a.deb' }]);
  }
  assert.equal(debianFrom({ debian: 'bookworm' }, ['hello'], false)?.extraPackages, undefined);
  assert.equal(usageMessage(() => debianFrom({ debian: 'bookworm', extraPackage: [' '] }, ['hello'], false)), '--extra-package: an empty path');
});
