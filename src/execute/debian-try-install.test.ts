import assert from 'node:assert/strict';
import { test } from 'node:test';
import { problemsOf, tryScript } from './debian-try-install.ts';

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
  assert.deepEqual(problemsOf('nothing\n'), { tried: [], problems: [], skipped: [] });
});

test('tryScript: the root is compared without what apt, dpkg and the sandbox change by themselves, and without the workspace', () => {
  const s = tryScript('/kiln/ws');
  for (const p of ['/proc', '/var/lib/dpkg', '/var/lib/apt', '/var/cache', '/kiln/ws']) assert.ok(s.includes(`-path ${p} `) || s.includes(`-path '${p}'`), p);
  assert.ok(!s.includes('-path /etc'), '/etc is compared');
  assert.match(s, /apt-get purge -y --autoremove/);
});
