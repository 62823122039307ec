// The rootless backend must be tested as a user without root (as root, user namespaces
// would prove nothing about what an ordinary user may do). Run as root (CI), this test
// creates the user `kiln-rootless-test` when absent and runs rootless-suite.run.ts as that
// user in a child `node --test`; run as any other user, it runs the suite in-process.
// Skipped, with the reason, when rootlessUnavailable() says the host cannot do it.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { rootlessUnavailable } from './rootless-backend.ts';

const USER = 'kiln-rootless-test';
const isRoot = process.getuid?.() === 0;

function ensureUser(): { uid: number; gid: number; home: string } | string {
  const look = () => spawnSync('getent', ['passwd', USER], { encoding: 'utf8' });
  let r = look();
  if (r.status !== 0) {
    const add = spawnSync('useradd', ['-m', USER], { encoding: 'utf8' });
    if (add.status !== 0) return `cannot create the test user ${USER}: ${add.stderr.trim() || add.error?.message}`;
    r = look();
  }
  const [, , uid, gid, , home] = r.stdout.trim().split(':');
  return { uid: Number(uid), gid: Number(gid), home: home ?? '/' };
}

if (!isRoot) {
  const why = rootlessUnavailable();
  if (why === undefined) await import('./rootless-suite.run.ts');
  else test('rootless sandbox', (t) => t.skip(`the rootless sandbox cannot run here: ${why}`));
} else {
  test('rootless sandbox: contract and backend suite, as a non-root user', { timeout: 300_000 }, async (t) => {
    const user = ensureUser();
    if (typeof user === 'string') return t.skip(user);
    const suite = fileURLToPath(new URL('./rootless-suite.run.ts', import.meta.url));
    const repo = fileURLToPath(new URL('../../..', import.meta.url));
    // The probe as that user first: a skip with its reason beats a wall of failures.
    const probe = spawnSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', process.execPath, '--input-type=module', '-e',
      `import { rootlessUnavailable } from ${JSON.stringify(new URL('./rootless-backend.ts', import.meta.url).href)}; process.stdout.write(rootlessUnavailable() ?? 'ok')`],
      { encoding: 'utf8', cwd: repo, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: user.home } });
    if (probe.status !== 0) assert.fail(`could not run node as ${USER}: ${probe.stderr}`);
    if (probe.stdout !== 'ok') return t.skip(`the rootless sandbox cannot run here as ${USER}: ${probe.stdout}`);
    const child = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', process.execPath, '--test', '--test-reporter=tap', suite], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: user.home, TMPDIR: '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => out.push(c));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const text = Buffer.concat(out).toString();
    const count = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    t.diagnostic(`as ${USER}: pass ${count('pass')}, fail ${count('fail')}, skipped ${count('skipped')}`);
    assert.equal(code, 0, text);
    assert.equal(count('fail'), 0, text);
    assert.ok(count('pass') >= 20, `too few tests passed:\n${text}`);
  });
}
