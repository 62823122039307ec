import assert from 'node:assert/strict';
import { test } from 'node:test';
import { problemsOf, tryScript, upgradeScript, upgradesOf } from './debian-try-install.ts';

test('problemsOf: the check\'s marker lines as the job\'s warnings; other lines are not read', () => {
  const out = [
    'Reading package lists...',
    'kiln-try-install: tried a 1.0',
    'kiln-try-install: tried b 2:1.0-1',
    'kiln-try-install: left b 7 /etc/b /etc/b/b.conf /var/lib/b /var/lib/b/x /var/lib/b/y ',
    'kiln-try-install: tried c 1.0',
    'kiln-try-install: install-failed c',
    'kiln-try-install: purge-failed e',
    'kiln-try-install: installed dash',
    'a line of apt\'s: kiln-try-install: left z 1 /nope',
  ].join('\n');
  const r = problemsOf(out);
  assert.deepEqual(r.tried, ['a 1.0', 'b 2:1.0-1', 'c 1.0']);
  assert.deepEqual(r.skipped, ['dash']);
  assert.deepEqual(r.problems, [
    'try-install: b leaves 7 path(s) behind after its purge: /etc/b, /etc/b/b.conf, /var/lib/b, /var/lib/b/x, /var/lib/b/y, … (the log lists them all)',
    'try-install: c does not install into a fresh root (apt-get install failed: see the log)',
    'try-install: e installs, but its purge fails (apt-get purge: see the log)',
  ]);
  assert.deepEqual(problemsOf('nothing\n'), { tried: [], upgraded: [], problems: [], skipped: [], notes: [] });
});

test('tryScript: the root is compared without what apt, dpkg and the sandbox change by themselves, and without the workspace', () => {
  const s = tryScript('/kiln/ws');
  for (const p of ['/proc', '/var/lib/dpkg', '/var/lib/apt', '/var/cache', '/kiln/ws']) assert.ok(s.includes(`-path ${p} `) || s.includes(`-path '${p}'`), p);
  assert.ok(!s.includes('-path /etc'), '/etc is compared');
  assert.match(s, /apt-get -y --no-install-recommends '-oDpkg::Options::=--force-unsafe-io' purge --autoremove/);
  // The upgrade's first half prefers the suite; its second, this run's .debs again.
  const u = upgradeScript('/kiln/ws');
  assert.ok(u.indexOf('kiln_run_repo off') < u.indexOf('(the suite\'s versions)') && u.indexOf('(the suite\'s versions)') < u.lastIndexOf('kiln_run_repo on'));
});

test('upgradesOf: a package the suite has at a lower version (for the arch, or all) is upgraded from it; same or higher: a note, no upgrade', () => {
  const suite: Record<string, { version: string; architecture: string }[]> = {
    hello: [{ version: '2.10-3', architecture: 'amd64' }],
    'hello-data': [{ version: '2.10-3', architecture: 'all' }],
    figlet: [{ version: '2.2.5-3+b1', architecture: 'amd64' }],
    newer: [{ version: '3.0-1', architecture: 'amd64' }],
    armonly: [{ version: '1.0-1', architecture: 'arm64' }],
    epoch: [{ version: '1:0.9-1', architecture: 'amd64' }],
  };
  const universe = { versions: (n: string) => (suite[n] ?? []).map((b) => ({ package: n, ...b })) } as unknown as Parameters<typeof upgradesOf>[1];
  const r = upgradesOf([
    { name: 'hello', version: '2.10-3+b1' },
    { name: 'hello-data', version: '2.10-4' },
    { name: 'figlet', version: '2.2.5-3+b1' },
    { name: 'newer', version: '2.0-1' },
    { name: 'armonly', version: '2.0-1' },
    { name: 'epoch', version: '1.0-1' },
    { name: 'fresh', version: '1.0' },
  ], universe, 'amd64');
  assert.deepEqual(r.upgrades, [
    { name: 'hello', from: '2.10-3', to: '2.10-3+b1' },
    { name: 'hello-data', from: '2.10-3', to: '2.10-4' },
  ]);
  assert.deepEqual(r.notes, [
    'try-install: figlet not upgraded from the suite\'s version: it is 2.2.5-3+b1, this build\'s own version',
    'try-install: newer not upgraded from the suite\'s version: it is 3.0-1, higher than this build\'s 2.0-1',
    'try-install: epoch not upgraded from the suite\'s version: it is 1:0.9-1, higher than this build\'s 1.0-1',
  ]);
});

test('problemsOf: the upgrade test\'s markers, named with the versions upgraded from and to', () => {
  const upgrades = [{ name: 'a', from: '1.0-1', to: '1.0-2' }, { name: 'b', from: '2', to: '3' }];
  const out = [
    'kiln-try-install: tried a 1.0-2',
    'kiln-try-install: upgraded a',
    'kiln-try-install: upgraded b',
    'kiln-try-install: upgrade-left 2 a b 3 /etc/a /etc/a/x /var/lib/b ',
  ].join('\n');
  const r = problemsOf(out, upgrades);
  assert.deepEqual(r.tried, ['a 1.0-2']);
  assert.deepEqual(r.upgraded, ['a 1.0-1 → 1.0-2', 'b 2 → 3']);
  assert.deepEqual(r.problems, ['try-install: upgraded from the suite\'s versions (a 1.0-1 → 1.0-2, b 2 → 3) and purged, they leave 3 path(s) behind after their purge: /etc/a, /etc/a/x, /var/lib/b']);
  assert.deepEqual(problemsOf('kiln-try-install: upgrade-failed a b', upgrades).problems, ['try-install: upgrading from the suite\'s versions fails (a 1.0-1 → 1.0-2, b 2 → 3: apt-get install failed: see the log)']);
  assert.deepEqual(problemsOf('kiln-try-install: upgrade-purge-failed b', upgrades).problems, ['try-install: upgraded from the suite\'s versions (b 2 → 3), but their purge fails (apt-get purge: see the log)']);
  // Not the build's problems: notes for the log.
  const notes = problemsOf('kiln-try-install: old-failed a b', upgrades);
  assert.deepEqual(notes.problems, []);
  assert.deepEqual(notes.notes, ['try-install: the upgrade from the suite\'s versions not tried (a 1.0-1 → 1.0-2, b 2 → 3): the suite\'s versions do not install into a fresh root (see the log)']);
});

test('problemsOf: broken symlinks after the install and processes left after the purge, as piuparts reports them', () => {
  const upgrades = [{ name: 'a', from: '1', to: '2' }];
  const r = problemsOf([
    'kiln-try-install: links x 1 /usr/share/x/link ',
    'kiln-try-install: procs y 2 41:sleep 57:my_daemon',
    'kiln-try-install: links z 7 /a /b /c /d /e ',
    'kiln-try-install: upgrade-links 1 a 1 /usr/lib/a.so ',
    'kiln-try-install: upgrade-procs 1 a 1 99:a-daemon',
  ].join('\n'), upgrades);
  assert.deepEqual(r.problems, [
    'try-install: x installs 1 broken symlink(s): /usr/share/x/link',
    'try-install: y leaves 2 process(es) running after its purge: 41 (sleep), 57 (my_daemon)',
    'try-install: z installs 7 broken symlink(s): /a, /b, /c, /d, /e, … (the log says where they point)',
    'try-install: upgraded from the suite\'s versions (a 1 → 2), they have 1 broken symlink(s): /usr/lib/a.so',
    'try-install: upgraded from the suite\'s versions (a 1 → 2) and purged, they leave 1 process(es) running: 99 (a-daemon)',
  ]);
});
