import assert from 'node:assert/strict';
import fs, { existsSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { isKilnError } from '../errors.ts';
import { runGroup } from '../lib/spawn-group.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { probeNetwork, probeOutsideFile, sandboxContract, sh } from './contract.ts';
import { hostBackend, makeHostBackend, removeTree } from './host.ts';
import type { SandboxOptions } from './sandbox.ts';

sandboxContract(hostBackend);
sandboxContract(makeHostBackend({ timePath: null, graceMs: 200 }), { label: 'host without GNU time' });

const limits = { cpus: 1, memoryBytes: 1 << 30 };

async function workDir(t: TestContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-host-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return join(root, 'work');
}

describe('host backend', () => {
  test('the contract probes can fail: on the host they see the network and outside files', async (t) => {
    await using dir = await tmpDir();
    await writeFile(join(dir.path, 'visible'), '');
    await using sb = await hostBackend.create({ jobId: 'probe@x', workDir: await workDir(t), limits });
    assert.equal(await probeNetwork(sb), true);
    assert.equal(await probeOutsideFile(sb, join(dir.path, 'visible')), true);
    assert.equal(await probeOutsideFile(sb, join(dir.path, 'absent')), false);
  });

  test('inside and host layouts are the same paths under workDir', async (t) => {
    // Under a folder of its own: no other test's pooled workspace is handed out.
    const wd = join(await workDir(t), 'run', 'job');
    await using sb = await hostBackend.create({ jobId: 'layout@x', workDir: wd, limits });
    assert.deepEqual(sb.inside, sb.host);
    assert.deepEqual(Object.keys(sb.host).sort(), ['dest', 'home', 'src', 'sysroot', 'tmp']);
    for (const [k, v] of Object.entries(sb.host)) assert.equal(v, join(wd, k));
  });

  test('an existing empty workDir is accepted; a file is refused', async (t) => {
    const wd = join(await workDir(t), 'run', 'job');
    await mkdir(dirname(wd), { recursive: true });
    await mkdir(wd);
    await (await hostBackend.create({ jobId: 'empty@x', workDir: wd, limits }))[Symbol.asyncDispose]();
    // (Elsewhere: the workspace just made is pooled, and a pooled one is built in where it is.)
    const file = join(await workDir(t), 'run', 'job');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, 'not a dir');
    await assert.rejects(hostBackend.create({ jobId: 'file@x', workDir: file, limits }), (e) => isKilnError(e) && e.code === 'unsafe-path');
  });

  test('the sandbox signal cancels its runs; a pre-aborted one refuses to create', async (t) => {
    const ac = new AbortController();
    const options: SandboxOptions = { jobId: 'sig@x', workDir: await workDir(t), limits, signal: ac.signal };
    await using sb = await hostBackend.create(options);
    const r = await sh(sb, 'echo go; exec sleep 300', { onOutput: () => ac.abort() });
    assert.equal(r.result.killedFor, 'cancelled');
    await assert.rejects(hostBackend.create({ ...options, workDir: await workDir(t) }), (e) => isKilnError(e) && e.code === 'cancelled');
  });

  test('runs report rusage, from the pre-forked helper even without GNU time', async (t) => {
    await using a = await hostBackend.create({ jobId: 'ru@x', workDir: await workDir(t), limits });
    const withTime = (await sh(a, 'exit 0')).result;
    if ((await stat('/usr/bin/time').catch(() => undefined)) !== undefined) assert.ok(withTime.rusage !== undefined);
    await using b = await makeHostBackend({ timePath: null }).create({ jobId: 'ru@y', workDir: await workDir(t), limits });
    const r = (await sh(b, 'exit 0')).result;
    if (existsSync('/usr/bin/perl')) assert.ok(r.rusage !== undefined && r.rusage.maxRssKb > 0, JSON.stringify(r.rusage));
  });

  test('an emptied workspace is recycled for the next job, and only an untouched one', async (t) => {
    const first = await workDir(t);
    const a = await hostBackend.create({ jobId: 'rc@a', workDir: first, limits });
    await a[Symbol.asyncDispose]();
    await assert.rejects(stat(first), { code: 'ENOENT' });
    const second = await workDir(t);
    await using b = await hostBackend.create({ jobId: 'rc@b', workDir: second, limits });
    for (const dir of Object.values(b.host)) assert.deepEqual(await readdir(dir), [], `${dir} is not empty`);
    // A workspace whose build left a file, a changed mode, or a survivor is removed, not reused.
    for (const [label, script] of [['a file', 'touch "$HOME/x"'], ['a mode', 'chmod 700 "$TMPDIR"']] as const) {
      const wd = await workDir(t);
      const c = await hostBackend.create({ jobId: 'rc@c', workDir: wd, limits });
      assert.equal((await sh(c, script)).result.exitCode, 0, label);
      await c[Symbol.asyncDispose]();
      await assert.rejects(stat(dirname(c.host.src)), { code: 'ENOENT' });
      await using d = await hostBackend.create({ jobId: 'rc@d', workDir: await workDir(t), limits });
      for (const dir of Object.values(d.host)) {
        assert.deepEqual(await readdir(dir), [], `${label}: ${dir} is not empty`);
        assert.equal((await stat(dir)).mode & 0o777, (await stat(d.host.src)).mode & 0o777, `${label}: ${dir} kept its mode`);
      }
    }
  });

  test('a workspace emptied again is recycled; a file left in it later is still seen', async (t) => {
    // Without listing: a directory the build touched is told by its mtime (see host.ts).
    const ino = async (p: string): Promise<number> => (await stat(p)).ino;
    // Whether a disposed workspace went to the pool: its src directory is there (an inode
    // number alone could be a removed directory's, reused by the next mkdir).
    const pooled = async (srcIno: number): Promise<boolean> => {
      const pool = join(tmpdir(), `.kiln-free-${process.pid}`);
      for (const e of await readdir(pool).catch(() => [] as string[])) {
        if ((await stat(join(pool, e, 'src')).catch(() => undefined))?.ino === srcIno) return true;
      }
      return false;
    };
    const a = await hostBackend.create({ jobId: 'mt@a', workDir: await workDir(t), limits });
    assert.equal((await sh(a, 'touch "$HOME/x" "$SRCDIR/y" && rm "$HOME/x" "$SRCDIR/y" && mkdir "$TMPDIR/d" && rmdir "$TMPDIR/d"')).result.exitCode, 0);
    const aSrc = await ino(a.host.src);
    await a[Symbol.asyncDispose]();
    assert.ok(await pooled(aSrc), 'the emptied workspace was not recycled');
    const b = await hostBackend.create({ jobId: 'mt@b', workDir: await workDir(t), limits });
    assert.equal(await ino(b.host.src), aSrc, 'the emptied workspace was not recycled');
    for (const dir of Object.values(b.host)) assert.deepEqual(await readdir(dir), [], `${dir} is not empty`);
    await b[Symbol.asyncDispose]();
    // A recycled workspace (b's) in which a build leaves a file, in each directory in turn: removed.
    for (const d of ['src', 'dest', 'home', 'tmp', 'sysroot', '.'] as const) {
      const x = await hostBackend.create({ jobId: 'mt@x', workDir: await workDir(t), limits });
      const xSrc = await ino(x.host.src);
      await x[Symbol.asyncDispose]();
      assert.ok(await pooled(xSrc), 'an untouched workspace was not recycled');
      const wd = await workDir(t);
      const c = await hostBackend.create({ jobId: 'mt@c', workDir: wd, limits });
      assert.equal(await ino(c.host.src), xSrc, 'not a recycled workspace');
      const at = dirname(c.host.src);
      assert.equal((await sh(c, `touch "${join(at, d)}/left"`)).result.exitCode, 0, d);
      await c[Symbol.asyncDispose]();
      await assert.rejects(stat(at), { code: 'ENOENT' }, `a file left in ${d}: the workspace was kept for reuse`);
    }
    // Files left with the directory's times copied from an untouched one (cp -a, rsync -a,
    // tar's ./ entry): removed too. The same without the file is recycled (the control).
    for (const [intoDir, fromDir] of [['dest', 'sysroot'], ['home', 'tmp'], ['src', 'home']] as const) {
      for (const leave of [false, true]) {
        const e = await hostBackend.create({ jobId: 'mt@e', workDir: await workDir(t), limits });
        const [into, from] = [e.host[intoDir], e.host[fromDir]];
        const r = await sh(e, `${leave ? `echo leak > "${into}/leak.txt" && ` : ''}touch -r "${from}" "${into}"`);
        assert.equal(r.result.exitCode, 0, r.err);
        const eSrc = await ino(e.host.src);
        await e[Symbol.asyncDispose]();
        assert.equal(await pooled(eSrc), !leave, `${intoDir} with the times of ${fromDir}${leave ? ' and a file left' : ''}: ${leave ? 'recycled' : 'not recycled'}`);
        const f = await hostBackend.create({ jobId: 'mt@f', workDir: await workDir(t), limits });
        for (const dir of Object.values(f.host)) assert.deepEqual(await readdir(dir), [], `${dir} is not empty`);
        await f[Symbol.asyncDispose]();
      }
    }
  });

  test('destUntouched: true only while nothing was created, removed or renamed in dest', async (t) => {
    // Fresh and recycled workspaces alike (the second round gets the first's directories).
    for (const round of ['fresh', 'recycled']) {
      const cases = [
        ['nothing', 'true', true],
        ['a file', 'echo x > "$DESTDIR/f"', false],
        ['a file made and removed', 'echo x > "$DESTDIR/f" && rm "$DESTDIR/f"', false],
        ['a directory', 'mkdir -p "$DESTDIR/usr/bin"', false],
        ["sysroot's times copied onto dest", 'echo x > "$DESTDIR/f" && touch -r "$SYSROOT" "$DESTDIR"', false],
        ['a file elsewhere', 'echo x > "$HOME/f"', true],
      ] as const;
      for (const [label, script, expected] of cases) {
        await using sb = await hostBackend.create({ jobId: 'du@x', workDir: await workDir(t), limits });
        const r = await sh(sb, script, { env: { DESTDIR: sb.host.dest, SYSROOT: sb.host.sysroot, HOME: sb.host.home, PATH: '/usr/bin:/bin' } });
        assert.equal(r.result.exitCode, 0, r.err);
        assert.equal(sb.destUntouched?.(), expected, `${round}: ${label}`);
      }
    }
  });

  test('a pooled workspace is built in where it is, at a path no earlier job had; with keep, at the workDir asked for', async (t) => {
    const root = await workDir(t);
    const wdOf = (job: string): string => join(root, 'run', job);
    const a = await hostBackend.create({ jobId: 'kp@a', workDir: wdOf('a'), limits });
    await a[Symbol.asyncDispose]();
    const b = await hostBackend.create({ jobId: 'kp@b', workDir: wdOf('b'), limits });
    assert.notEqual(dirname(b.host.src), wdOf('b'), 'not a pooled workspace');
    await assert.rejects(stat(wdOf('b')), { code: 'ENOENT' });
    const bAt = dirname(b.host.src);
    await b[Symbol.asyncDispose]();
    const c = await hostBackend.create({ jobId: 'kp@c', workDir: wdOf('c'), limits });
    assert.notEqual(dirname(c.host.src), bAt, 'the same path as the job before');
    await c[Symbol.asyncDispose]();
    // A run that may keep its workspaces gets the pooled one at workDir, and keeps it there.
    const d = await hostBackend.create({ jobId: 'kp@d', workDir: wdOf('d'), limits, keep: () => true });
    assert.equal(dirname(d.host.src), wdOf('d'));
    assert.equal((await sh(d, 'echo partial > "$HOME/build.log"')).result.exitCode, 0);
    await d[Symbol.asyncDispose]();
    assert.equal((await readdir(join(wdOf('d'), 'home'))).join(), 'build.log');
  });

  test('a process that escaped an earlier job cannot write into a later job by the path it knew', async (t) => {
    const root = await workDir(t);
    const first = await hostBackend.create({ jobId: 'esc@0', workDir: join(root, 'run', 'z'), limits });
    await first[Symbol.asyncDispose]();
    const a = await hostBackend.create({ jobId: 'esc@a', workDir: join(root, 'run', 'a'), limits });
    // setsid + env -i: out of the job's process group and without its cookie (the hole
    // spawn-group.ts documents); it writes once job a is over.
    const done = join(root, 'escaped-done');
    const script = `env -i /usr/bin/setsid /bin/sh -c 'sleep 0.5; echo leaked > "${a.host.dest}/evil"; touch "${done}"' </dev/null >/dev/null 2>&1 &`;
    assert.equal((await sh(a, script)).result.exitCode, 0);
    await a[Symbol.asyncDispose]();
    await using b = await hostBackend.create({ jobId: 'esc@b', workDir: join(root, 'run', 'b'), limits });
    for (let i = 0; i < 100 && !existsSync(done); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await readdir(b.host.dest), []);
  });

  test('a pooled workspace written to or chmodded while it waits is not handed out', async (t) => {
    for (const [label, spoil] of [
      ['a file in src', (dir: string) => writeFile(join(dir, 'src', 'foreign'), 'x')],
      ['tmp made 777', (dir: string) => chmod(join(dir, 'tmp'), 0o777)],
    ] as const) {
      const root = await workDir(t);
      const z = await hostBackend.create({ jobId: 'sp@z', workDir: join(root, 'run', 'z'), limits });
      await z[Symbol.asyncDispose]();
      const pool = join(root, `.kiln-free-${process.pid}`);
      const pooled = (await readdir(pool)).filter((e) => e !== '.owner');
      assert.equal(pooled.length, 1, `${label}: nothing pooled`);
      await spoil(join(pool, pooled[0]!));
      await using b = await hostBackend.create({ jobId: 'sp@b', workDir: join(root, 'run', 'b'), limits });
      for (const dir of Object.values(b.host)) {
        assert.deepEqual(await readdir(dir), [], `${label}: ${dir} is not empty`);
        assert.equal((await stat(dir)).mode & 0o777, (await stat(b.host.src)).mode & 0o777, `${label}: ${dir} kept the mode`);
      }
    }
  });

  test('a file made in a touched directory while the workspace is being recycled is seen (marked before it is listed)', async (t) => {
    const root = await workDir(t);
    const a = await hostBackend.create({ jobId: 'race@a', workDir: join(root, 'run', 'a'), limits });
    assert.equal((await sh(a, `touch "${a.host.dest}/f" && rm "${a.host.dest}/f"`)).result.exitCode, 0);
    // "Another process" creates a file in dest right after recycle() has listed it.
    const original = fs.readdirSync;
    (fs as { readdirSync: unknown }).readdirSync = (p: string, ...rest: unknown[]) => {
      const r = (original as (...a: unknown[]) => unknown)(p, ...rest);
      if (String(p) === a.host.dest) fs.writeFileSync(join(String(p), 'raced'), 'x');
      return r;
    };
    syncBuiltinESMExports();
    try {
      await a[Symbol.asyncDispose]();
    } finally {
      fs.readdirSync = original;
      syncBuiltinESMExports();
    }
    await using b = await hostBackend.create({ jobId: 'race@b', workDir: join(root, 'run', 'b'), limits });
    assert.deepEqual(await readdir(b.host.dest), []);
  });

  test('a directory whose times a build set back to its mark is still seen touched (tar restoring $DESTDIR)', async (t) => {
    const script = 'tar -C "$DESTDIR" -cf "$HOME/t.tar" . && mkdir -p "$DESTDIR/usr/bin" && echo hi > "$DESTDIR/usr/bin/tool" && tar -C "$DESTDIR" -xf "$HOME/t.tar" && rm "$HOME/t.tar"';
    const root = await workDir(t);
    for (const job of ['fresh', 'recycled', 'again']) {
      const sb = await hostBackend.create({ jobId: `tar@${job}`, workDir: join(root, 'run', job), limits });
      const r = await sh(sb, script, { env: { DESTDIR: sb.host.dest, HOME: sb.host.home, PATH: '/usr/bin:/bin' } });
      assert.equal(r.result.exitCode, 0, r.err);
      assert.equal(sb.destUntouched?.(), false, `${job}: dest holds ${(await readdir(sb.host.dest)).join()}`);
      const at = dirname(sb.host.src);
      await sb[Symbol.asyncDispose]();
      await assert.rejects(stat(at), { code: 'ENOENT' }, `${job}: a workspace with files left was recycled`);
      // An untouched one in between, so that the next job gets a recycled workspace.
      await (await hostBackend.create({ jobId: `tar@${job}-noop`, workDir: join(root, 'run', `${job}-noop`), limits }))[Symbol.asyncDispose]();
    }
  });

  test('run after dispose is a bug and says so', async (t) => {
    const sb = await hostBackend.create({ jobId: 'late@x', workDir: await workDir(t), limits });
    await sb[Symbol.asyncDispose]();
    await sb[Symbol.asyncDispose](); // idempotent
    await assert.rejects(sh(sb, 'true'), /already disposed/);
  });

  // As root nothing is ever read-only, so the check runs as nobody (via setpriv) when it can.
  const asNobody = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');
  test('removeTree clears directories without write or search permission', async () => {
    await using dir = await tmpDir();
    const tree = join(dir.path, 'tree');
    await mkdir(join(tree, 'a/b'), { recursive: true });
    await writeFile(join(tree, 'a/b/f'), '');
    await chmod(join(tree, 'a/b'), 0);
    await chmod(join(tree, 'a'), 0o500);
    if (asNobody) {
      await chown(dir.path, 65534, 65534);
      for (const p of [tree, join(tree, 'a'), join(tree, 'a/b'), join(tree, 'a/b/f')]) await chown(p, 65534, 65534);
      const script = `import { removeTree } from ${JSON.stringify(new URL('./host.ts', import.meta.url).href)}; await removeTree(${JSON.stringify(tree)});`;
      const r = await runGroup(
        ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
        { env: { PATH: '/usr/bin:/bin' }, cwd: '/', timePath: null },
      );
      assert.equal(r.exitCode, 0);
    } else {
      await removeTree(tree);
    }
    assert.deepEqual(await readdir(dir.path), []);
  });
});
