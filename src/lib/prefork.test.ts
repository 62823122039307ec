// The pre-forked helper's launch path (prefork.ts): how the child is set up and started
// (raw system calls on the architectures in its table, perl's POSIX module elsewhere),
// the PATH search it does itself, exec failures, and a short command's pid, status and
// "closed" arriving together. The portable path runs the same cases in a child test
// process with KILN_PREFORK_PORTABLE=1 (the helper reads it when it starts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { launchPreforked, preforkedLauncher, type Launched } from './prefork.ts';
import { runGroup } from './spawn-group.ts';
import { collect } from '../../test/helpers/collect-output.ts';

const PATH = '/usr/local/bin:/usr/bin:/bin';
const portable = process.env['KILN_PREFORK_PORTABLE'] === '1';
/** Which helper this run tests: the compiled one by default, perl when asked (or portable). */
const perl = portable || process.env['KILN_LAUNCHER'] === 'perl';
const label = perl ? `perl helper, ${portable ? 'portable: POSIX module' : 'raw system calls'}` : 'compiled helper';


async function drain(l: Launched): Promise<string> {
  const parts: Buffer[] = [];
  l.stdout.on('data', (c: Buffer) => parts.push(c));
  l.stderr.resume();
  if (!l.stdout.closed) await new Promise((resolve) => l.stdout.once('close', resolve));
  return Buffer.concat(parts).toString();
}

describe(`pre-forked helper (${label})`, () => {
  test('argv, exactly the given environment, cwd, stdin from /dev/null, own session', async () => {
    await using tmp = await tmpDir();
    const dir = tmp.path;
    const l = await launchPreforked(['sh', '-c', 'echo "$#|$1|$A|$(env | wc -l)|$PWD"; cat; ps -o sid= -p $$ | tr -d " "; echo $$', 'zero', 'one two'], {
      cwd: dir,
      env: { PATH, A: 'x=y z' },
    });
    assert.ok(l !== undefined, 'perl and cc are installed here');
    const probe = await preforkedLauncher(['true'], {});
    assert.equal(probe?.kind, perl ? 'perl' : 'c', 'the helper this run means to test');
    await drain((await probe!.launch(['true'], { cwd: '/', env: { PATH } })));
    assert.ok(l.pid !== undefined);
    const out = (await drain(l)).trim().split('\n');
    assert.deepEqual(out[0]!.split('|'), ['1', 'one two', 'x=y z', '3', dir]); // PATH, A, PWD (sh adds PWD)
    assert.equal(out[1], String(l.pid), 'the command leads its own session');
    assert.equal(out[2], String(l.pid));
    assert.deepEqual(await l.exited, { code: 0, signal: null });
  });

  test('every command starts with umask 022, whatever kiln\'s own (a build\'s output modes do not depend on who ran kiln)', async () => {
    const old = process.umask(0o077);
    try {
      const c = collect();
      const r = await runGroup(['/bin/sh', '-c', 'umask'], { env: { PATH }, cwd: '/', timePath: null, onOutput: c.onOutput });
      assert.equal(r.exitCode, 0);
      assert.equal(c.out().trim(), '0022');
    } finally {
      process.umask(old);
    }
  });

  test("argv[0] is searched in the command's own PATH, not kiln's", async () => {
    await using tmp = await tmpDir();
    const dir = tmp.path;
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'kiln-only-here'), '#!/bin/sh\necho found "$0"\n');
    await chmod(join(dir, 'bin', 'kiln-only-here'), 0o755);
    const c = collect();
    const r = await runGroup(['kiln-only-here'], { env: { PATH: `/nonexistent:${join(dir, 'bin')}:${PATH}` }, cwd: dir, timePath: null, onOutput: c.onOutput });
    assert.equal(r.exitCode, 0);
    assert.equal(c.out(), `found ${join(dir, 'bin', 'kiln-only-here')}\n`);
    const missing = collect();
    const r2 = await runGroup(['kiln-only-here'], { env: { PATH }, cwd: dir, timePath: null, onOutput: missing.onOutput });
    assert.equal(r2.exitCode, 127);
    assert.match(missing.err(), /cannot run kiln-only-here .*No such file or directory/);
  });

  test('a script without #! runs through /bin/sh, as execvp does; a file without x is refused (126)', async () => {
    await using tmp = await tmpDir();
    const dir = tmp.path;
    await writeFile(join(dir, 'plain'), 'echo "plain script $1"\n');
    await chmod(join(dir, 'plain'), 0o755);
    const c = collect();
    const r = await runGroup([join(dir, 'plain'), 'arg'], { env: { PATH }, cwd: dir, timePath: null, onOutput: c.onOutput });
    assert.equal(r.exitCode, 0);
    assert.equal(c.out(), 'plain script arg\n');
    await writeFile(join(dir, 'noexec'), 'echo no\n');
    const n = collect();
    const r2 = await runGroup([join(dir, 'noexec')], { env: { PATH }, cwd: dir, timePath: null, onOutput: n.onOutput });
    assert.equal(r2.exitCode, 126);
    assert.match(n.err(), /Permission denied/);
  });

  test('a missing working directory is an exec failure, not a status', async () => {
    const l = await launchPreforked(['true'], { cwd: '/nonexistent/kiln-cwd', env: { PATH } });
    assert.ok(l !== undefined);
    const raw = await l.exited;
    assert.ok('error' in raw);
    assert.equal((raw.error as NodeJS.ErrnoException).code, 'ENOENT');
    assert.match(raw.error.message, /^chdir: /);
    await drain(l);
  });

  test('a long command reports its pid before it ends; output comes before the pid is held back', async () => {
    const started = performance.now();
    const l = await launchPreforked(['sleep', '1'], { cwd: '/', env: { PATH } });
    assert.ok(l?.pid !== undefined);
    assert.ok(performance.now() - started < 800, 'the pid arrived while the command ran');
    process.kill(-l.pid, 'SIGKILL');
    assert.deepEqual(await l.exited, { code: null, signal: 'SIGKILL' });
    await drain(l);
    const quick = await launchPreforked(['sh', '-c', 'echo early; sleep 1'], { cwd: '/', env: { PATH } });
    assert.ok(quick?.pid !== undefined);
    const first = await new Promise<string>((resolve) => quick.stdout.once('data', (c: Buffer) => resolve(c.toString())));
    assert.equal(first, 'early\n');
    process.kill(-quick.pid, 'SIGKILL');
    await quick.exited;
    await drain(quick);
  });

  test('a command that closes its output at once still reports its pid while it runs, so limits still reach it', async () => {
    const started = performance.now();
    const l = await launchPreforked(['sh', '-c', 'exec >/dev/null 2>&1; sleep 5'], { cwd: '/', env: { PATH } });
    assert.ok(l?.pid !== undefined);
    assert.ok(performance.now() - started < 2000, `the pid came after ${Math.round(performance.now() - started)} ms`);
    process.kill(-l.pid, 'SIGKILL');
    assert.deepEqual(await l.exited, { code: null, signal: 'SIGKILL' });
    await drain(l);
    const t0 = performance.now();
    const r = await runGroup(['sh', '-c', 'exec >/dev/null 2>&1; sleep 5'], { env: { PATH }, cwd: '/', timeoutMs: 300, onOutput: () => undefined });
    assert.equal(r.killedFor, 'timeout');
    assert.ok(performance.now() - t0 < 3000, `killed after ${Math.round(performance.now() - t0)} ms`);
  });

  test('the command inherits no ignored or blocked signal from the helper', async () => {
    const l = await launchPreforked(['sh', '-c', 'grep -E "^Sig(Ign|Blk):" /proc/self/status'], { cwd: '/', env: { PATH } });
    assert.ok(l !== undefined);
    assert.equal(await drain(l), 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  test('an empty PATH searches the working directory, as execvp does', async () => {
    await using tmp = await tmpDir();
    await writeFile(join(tmp.path, 'here'), '#!/bin/sh\necho here\n');
    await chmod(join(tmp.path, 'here'), 0o755);
    const l = await launchPreforked(['here'], { cwd: tmp.path, env: { PATH: '' } });
    assert.ok(l !== undefined);
    assert.equal(await drain(l), 'here\n');
    assert.deepEqual(await l.exited, { code: 0, signal: null });
  });

  test('a quick command: status and rusage (where wait4 is used) come with the pid', async () => {
    const l = await launchPreforked(['sh', '-c', 'exit 5'], { cwd: '/', env: { PATH } });
    assert.ok(l?.pid !== undefined);
    assert.deepEqual(await l.exited, { code: 5, signal: null });
    await drain(l);
    if (!portable) {
      assert.ok(l.rusage?.() !== undefined, 'wait4 reported rusage');
      assert.equal(l.descendantsLeft?.(), false, 'the subreaper saw no child left');
    }
  });

  if (!perl) {
    // The same cases in a test process of their own for each perl variant (the helper
    // reads these variables when it starts).
    for (const [name, env] of [['perl with raw system calls', { KILN_LAUNCHER: 'perl' }], ['perl through its POSIX module', { KILN_PREFORK_PORTABLE: '1' }]] as const) {
      test(`the ${name} passes the same cases`, () => {
        const r = spawnSync(process.execPath, ['--test', import.meta.filename], {
          // Without the parent runner's NODE_TEST_CONTEXT: the child runs as a test run of its own.
          env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), ...env },
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      });
    }
  }
});
