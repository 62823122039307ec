// The rootless backend's tests proper: the shared contract on a small test root, plus the
// checks particular to this backend. Meant to run as a NON-ROOT user (rootless.test.ts
// starts it as one); imported, it registers node:test suites.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { testRoot } from '../../../test/helpers/test-root.ts';
import { readEntries } from '../journal.ts';
import { sandboxContract, sh } from '../contract.ts';
import type { Sandbox, SandboxEnv, SandboxLimits } from '../sandbox.ts';
import { APT_CONFIG_FILE, createRootlessBackend } from './rootless-backend.ts';

export function rootlessSuite(): void {
  const stateDir = mkdtempSync(join(tmpdir(), 'kiln-rootless-state-'));
  process.on('exit', () => {
    // As a non-root user, directories a test left without permissions need opening first.
    spawnSync('chmod', ['-R', 'u+rwx', stateDir]);
    rmSync(stateDir, { recursive: true, force: true });
  });
  const backend = createRootlessBackend({ stateDir, graceMs: 500 });
  const root = testRoot();
  const env: SandboxEnv = { id: 'test-root@1', name: 'test-root', arch: 'amd64', layers: [root.path] };
  sandboxContract(backend, { env, tmpRoot: stateDir });

  const limits: SandboxLimits = { cpus: 1, memoryBytes: 256 * 1024 * 1024, pids: 64 };
  const make = async (t: TestContext, extra: { readOnlyBinds?: { host: string; inside: string }[]; readWriteBinds?: { host: string; inside: string }[]; env?: SandboxEnv; limits?: SandboxLimits } = {}): Promise<Sandbox> => {
    const dir = await mkdtemp(join(stateDir, 'job-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    return backend.create({ jobId: `t@${Math.random().toString(36).slice(2)}`, workDir: join(dir, 'work'), limits, env, ...extra });
  };
  const run = (sb: Sandbox, script: string, home: string, user: 'build' | 'root' = 'build') =>
    sh(sb, script, { env: { PATH: '/usr/bin:/bin', HOME: home }, user });
  const uid = process.getuid!();

  describe('rootless backend', () => {
    test('the build runs as the invoking uid, named kiln, without capabilities, in its own hostname, under /kiln', async (t) => {
      await using sb = await make(t);
      const { out, result, err } = await sh(sb, 'id -u; id -un; hostname; pwd; echo $HOME; grep CapEff /proc/self/status');
      assert.equal(result.exitCode, 0, err);
      assert.equal(out, `${uid}\nkiln\nkiln\n/kiln/src\n/kiln/home\nCapEff:\t0000000000000000\n`);
      assert.deepEqual(sb.inside, { src: '/kiln/src', dest: '/kiln/dest', sysroot: '/kiln/sysroot', home: '/kiln/home', tmp: '/kiln/tmp' });
    });

    test('staged files are there and writable inside; outputs come back; the env is never written', async (t) => {
      await using sb = await make(t);
      await writeFile(join(sb.host.src, 'input'), 'from kiln\n');
      const { result, err } = await sh(sb, 'cat input > "$HOME/copy" && echo more >> input && cp input /kiln/dest/out && echo x > /etc/new && rm /usr/bin/cat');
      assert.equal(result.exitCode, 0, err);
      assert.equal(await readFile(join(sb.host.dest, 'out'), 'utf8'), 'from kiln\nmore\n');
      await readFile(join(root.path, 'usr/bin/cat'));
      await assert.rejects(readFile(join(root.path, 'etc/new')), { code: 'ENOENT' });
    });

    test('/dev is minimal and works, /sys read-only, init is out of reach', async (t) => {
      await using sb = await make(t);
      const { out } = await sh(sb, 'ls /dev | tr "\\n" " "; echo; touch /sys/x 2>/dev/null || echo sys-ro; echo hi > /dev/null && head -c 4 /dev/urandom | wc -c; ls /proc/1/root/ >/dev/null 2>&1 || echo init-hidden');
      assert.equal(out, 'fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \nsys-ro\n4\ninit-hidden\n');
    });

    test('read-only binds are read-only, read-write binds writable', async (t) => {
      const ro = await mkdtemp(join(stateDir, 'ro-'));
      const rw = await mkdtemp(join(stateDir, 'rw-'));
      t.after(() => Promise.all([rm(ro, { recursive: true }), rm(rw, { recursive: true })]));
      await writeFile(join(ro, 'cached'), 'c\n');
      await using sb = await make(t, { readOnlyBinds: [{ host: ro, inside: '/var/cache/dl' }], readWriteBinds: [{ host: rw, inside: '/ccache' }] });
      const { out, err } = await sh(sb, 'cat /var/cache/dl/cached; touch /var/cache/dl/x 2>/dev/null || echo ro; echo w > /ccache/f && echo rw');
      assert.equal(out, 'c\nro\nrw\n', err);
      assert.equal(await readFile(join(rw, 'f'), 'utf8'), 'w\n');
    });

    test('rlimits: a burst of processes past the pids limit fails; a big allocation fails', async (t) => {
      await using sb = await make(t);
      const burst = await sh(sb, `i=0; while [ $i -lt ${limits.pids! * 2} ]; do sleep 30 & i=$((i+1)); done; echo all started`, { timeoutMs: 30_000 });
      assert.doesNotMatch(burst.out, /all started/);
      if (root.probe) {
        const alloc = await sh(sb, `kiln-probe alloc ${(limits.memoryBytes / 1024 / 1024) * 2}`, { timeoutMs: 30_000 });
        assert.notEqual(alloc.result.exitCode, 0, alloc.out);
      }
    });

    test('/tmp and /dev/shm are one tmpfs of the build\'s memory: together they hold no more (no cgroup counts them)', async (t) => {
      await using sb = await make(t, { limits: { ...limits, memoryBytes: 32 * 1024 * 1024 } });
      const { out, err } = await sh(sb, [
        'stat -c "%a %n" /tmp /dev/shm',
        'head -c 20971520 /dev/zero > /tmp/a && echo tmp-20M',
        'head -c 20971520 /dev/zero > /dev/shm/b 2>/dev/null || echo shm-full',
        'rm /tmp/a; head -c 20971520 /dev/zero > /dev/shm/b && echo shm-20M-after-rm',
        'head -c 40000000 /dev/zero > /tmp/c 2>/dev/null || echo tmp-full',
      ].join('\n'), { timeoutMs: 30_000 });
      assert.equal(out, '1777 /tmp\n1777 /dev/shm\ntmp-20M\nshm-full\nshm-20M-after-rm\ntmp-full\n', err);
    });

    test('a Debian build\'s HOME at the top of the root: it does not exist and the build cannot make it; root of the sandbox can make directories there', async (t) => {
      await using sb = await make(t);
      // The build owns every file of a root its user made: only the mode of / stops it.
      const build = await run(sb, 'test -e "$HOME" && echo exists; mkdir "$HOME" 2>/dev/null && echo made; mkdir /other 2>/dev/null && echo made-other; echo done', '/kiln-nonexistent');
      assert.equal(build.out, 'done\n', build.err);
      const root = await run(sb, 'mkdir -p /build/path && echo made-by-root', '/root', 'root');
      assert.equal(root.out, 'made-by-root\n', root.err);
    });

    test('the build user\'s passwd home is the HOME of the run: the nonexistent one of a Debian build, /kiln/home for recipes', async (t) => {
      await using sb = await make(t);
      const home = 'getent passwd kiln | { IFS=: read -r _ _ _ _ _ h _; echo "$h"; }';
      assert.equal((await run(sb, home, '/kiln-nonexistent')).out, '/kiln-nonexistent\n');
      // A root run changes nothing of the build user's entry.
      assert.equal((await run(sb, home, '/root', 'root')).out, '/kiln-nonexistent\n');
      assert.equal((await run(sb, home, '/kiln/home')).out, '/kiln/home\n');
      // A HOME that cannot be a passwd field leaves the default.
      assert.equal((await run(sb, home, '/odd:home')).out, '/kiln/home\n');
      const names = await run(sb, 'id -un; grep -c "^root:" /etc/passwd', '/kiln-nonexistent');
      assert.equal(names.out, 'kiln\n1\n', names.err);
    });

    test('a root with apt gets the apt.conf.d file that keeps apt from switching to _apt (one uid in the namespace); one without apt does not', async (t) => {
      const layer = await mkdtemp(join(stateDir, 'apt-layer-'));
      t.after(() => rm(layer, { recursive: true, force: true }));
      await mkdir(join(layer, 'etc/apt/apt.conf.d'), { recursive: true });
      await using withApt = await make(t, { env: { ...env, id: 'test-root-apt@1', layers: [root.path, layer] } });
      const conf = await run(withApt, `cat /${APT_CONFIG_FILE}; ls /etc/apt/apt.conf.d`, '/kiln/home');
      assert.match(conf.out, /^APT::Sandbox::User "root";$/m, conf.err);
      await using without = await make(t);
      const none = await run(without, 'ls /etc/apt 2>&1 || echo no-apt', '/kiln/home');
      assert.match(none.out, /no-apt/);
    });

    test('the journal lists a live sandbox with its workspace and no cgroup, and forgets it on dispose', async (t) => {
      const sb = await make(t);
      const entries = (await readEntries(stateDir)).map((e) => e.entry).filter((e) => e?.backend === 'rootless');
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.cgroup, null);
      await sb[Symbol.asyncDispose]();
      assert.equal((await readEntries(stateDir)).length, 0);
    });
  });
}
