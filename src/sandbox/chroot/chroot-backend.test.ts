// The chroot backend: the shared contract on a small test root, and the isolation checks
// of issue 3 that need more than POSIX sh (abstract sockets, DNS, a fork bomb, OOM).
// Needs root, overlayfs and cgroups; skipped with the reason otherwise.

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { isKilnError } from '../../errors.ts';
import { hostBackend } from '../host.ts';
import { readEntries } from '../journal.ts';
import { liveMountsUnder } from '../mounts.ts';
import { probeNetwork, sandboxContract, sh } from '../contract.ts';
import type { Sandbox, SandboxEnv, SandboxLimits } from '../sandbox.ts';
import { testRoot } from '../../../test/helpers/test-root.ts';
import { chrootUnavailable, createChrootBackend } from './chroot-backend.ts';

const execFileAsync = promisify(execFile);
const unavailable = chrootUnavailable();
const stateDir = mkdtempSync(join(tmpdir(), 'kiln-chroot-state-'));
process.on('exit', () => rmSync(stateDir, { recursive: true, force: true }));
const backend = createChrootBackend({ stateDir, graceMs: 500 });

if (unavailable === undefined) {
  const root = testRoot();
  const env: SandboxEnv = { id: 'test-root@1', name: 'test-root', arch: 'amd64', layers: [root.path] };
  sandboxContract(backend, { env, tmpRoot: stateDir });

  const limits: SandboxLimits = { cpus: 1, memoryBytes: 256 * 1024 * 1024, pids: 128 };
  const make = async (t: TestContext, extra: { readOnlyBinds?: { host: string; inside: string }[]; readWriteBinds?: { host: string; inside: string }[] } = {}): Promise<Sandbox> => {
    const dir = await mkdtemp(join(stateDir, 'job-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    return backend.create({ jobId: `t@${Math.random().toString(36).slice(2)}`, workDir: join(dir, 'work'), limits, env, ...extra });
  };

  describe('chroot backend', () => {
    test('the build runs as the unprivileged kiln user, in its own hostname, with the layout under /kiln', async (t) => {
      await using sb = await make(t);
      const { out, result } = await sh(sb, 'id -u; id -g; id -G; id -un; hostname; pwd; echo $HOME');
      assert.equal(result.exitCode, 0);
      assert.equal(out, '64000\n64000\n64000\nkiln\nkiln\n/kiln/src\n/kiln/home\n');
      assert.deepEqual(sb.inside, { src: '/kiln/src', dest: '/kiln/dest', sysroot: '/kiln/sysroot', home: '/kiln/home', tmp: '/kiln/tmp' });
    });

    test('files staged on the host side are there inside and writable; outputs come back', async (t) => {
      await using sb = await make(t);
      await writeFile(join(sb.host.src, 'input'), 'from kiln\n');
      const { result } = await sh(sb, 'cat input > "$HOME/copy" && echo more >> input && cp input /kiln/dest/out');
      assert.equal(result.exitCode, 0);
      assert.equal(await readFile(join(sb.host.dest, 'out'), 'utf8'), 'from kiln\nmore\n');
    });

    test('the root is an overlay: writes land in the sandbox, never in the env', async (t) => {
      await using sb = await make(t);
      const before = await readdir(join(root.path, 'etc'));
      const { result, err } = await sh(sb, 'touch /etc/x 2>&1; rm /usr/bin/cat 2>&1; ls /dev/shm /tmp >/dev/null && echo ok > /tmp/t && cat /tmp/t');
      assert.equal(result.exitCode, 0, err);
      assert.deepEqual(await readdir(join(root.path, 'etc')), before);
      await stat(join(root.path, 'usr/bin/cat'));
    });

    test('/proc is private, /sys read-only, /dev minimal', async (t) => {
      await using sb = await make(t);
      const { out } = await sh(sb, 'ls /dev | tr "\\n" " "; echo; touch /sys/x 2>/dev/null || echo sys-ro; echo hi > /dev/null && head -c 4 /dev/urandom | wc -c');
      assert.equal(out, 'fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \nsys-ro\n4\n');
    });

    test('a root run (installing build dependencies) is root inside but cannot reach the host kernel, mount or chroot', async (t) => {
      await using sb = await make(t);
      const { out } = await sh(sb, [
        'id -u',
        'echo 1 > /proc/sys/kernel/core_uses_pid 2>/dev/null && echo SYSCTL-WRITTEN || echo sysctl-ro',
        'mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED || echo no-mount',
        'grep ^CapEff: /proc/self/status',
      ].join('; '), { user: 'root', path: '/usr/sbin:/usr/bin:/sbin:/bin' });
      const lines = out.trim().split('\n');
      assert.deepEqual(lines.slice(0, 3), ['0', 'sysctl-ro', 'no-mount']);
      const caps = BigInt(`0x${lines[3]!.split(/\s+/)[1]}`);
      // dac_read_search 2, sys_module 16, sys_rawio 17, sys_chroot 18, sys_ptrace 19, sys_admin 21, sys_nice 23, mknod 27
      for (const bit of [2, 16, 17, 18, 19, 21, 23, 27]) assert.equal((caps >> BigInt(bit)) & 1n, 0n, `capability bit ${bit} is gone`);
      assert.equal((caps >> 0n) & 1n, 1n, 'chown stays (dpkg needs it)');
    });

    test('read-only binds are read-only, read-write binds writable', async (t) => {
      const ro = await mkdtemp(join(stateDir, 'ro-'));
      const rw = await mkdtemp(join(stateDir, 'rw-'));
      t.after(() => Promise.all([rm(ro, { recursive: true }), rm(rw, { recursive: true })]));
      await writeFile(join(ro, 'cached'), 'c\n');
      await chmod(ro, 0o755);
      execFileSync('chown', ['64000:64000', rw]);
      await using sb = await make(t, { readOnlyBinds: [{ host: ro, inside: '/var/cache/downloads' }], readWriteBinds: [{ host: rw, inside: '/var/cache/ccache' }] });
      const { out } = await sh(sb, 'cat /var/cache/downloads/cached; touch /var/cache/downloads/x 2>/dev/null || echo ro; echo w > /var/cache/ccache/f && echo rw');
      assert.equal(out, 'c\nro\nrw\n');
      assert.equal(await readFile(join(rw, 'f'), 'utf8'), 'w\n');
      assert.deepEqual(await readdir(ro), ['cached']);
    });

    test('no name resolution: a name server on the host loopback cannot be asked', async (t) => {
      const dns = await startDns();
      if (dns === undefined) return t.skip('127.0.0.1:53 is taken on this host');
      t.after(() => dns.close());
      // The probe works where there is a network: the test root's getent, chrooted on the host.
      // (async: the name server answers from this very event loop)
      const control = (await execFileAsync('chroot', [root.path, 'getent', 'hosts', 'probe.kiln.example'], { encoding: 'utf8' })).stdout;
      assert.match(control, /^192\.0\.2\.7\s+probe\.kiln\.example/);
      await using sb = await make(t);
      const { result, out } = await sh(sb, 'getent hosts probe.kiln.example', { timeoutMs: 20_000 });
      assert.notEqual(result.exitCode, 0);
      assert.equal(out, '');
      assert.equal(await probeNetwork(sb), false);
    });

    test('two sandboxes cannot meet on an abstract unix socket (but one can within itself)', { skip: root.probe ? false : 'no gcc -static on this host' }, async (t) => {
      await using a = await make(t);
      await using b = await make(t);
      const name = `kiln-test-${Math.random().toString(36).slice(2)}`;
      const self = await sh(a, `kiln-probe listen ${name} & until kiln-probe connect ${name}; do sleep 0.05; done`, { timeoutMs: 20_000 });
      assert.match(self.out, /got hello/);
      let up!: () => void;
      const listening = new Promise<void>((r) => (up = r));
      const server = sh(a, `exec kiln-probe listen ${name}`, { onOutput: (_s, c) => c.includes('listening') && up(), timeoutMs: 30_000 });
      await listening;
      const { out } = await sh(b, `kiln-probe connect ${name}`);
      assert.match(out, /refused/);
      await a[Symbol.asyncDispose]();
      assert.equal((await server).result.killedFor, 'cancelled');
    });

    test('a fork bomb is contained: ended and reported pids-limit well before its timeout, the host is fine', async (t) => {
      await using sb = await make(t);
      // In the foreground: it never ends by itself (each refused fork frees a slot for the next).
      const { result, out } = await sh(sb, 'set -e; b() { b | b; }; b; echo survived', { timeoutMs: 60_000 });
      assert.equal(out, '');
      assert.equal(result.killedFor, 'pids-limit', JSON.stringify(result));
      assert.ok(result.durationMs < 30_000, JSON.stringify(result));
      assert.equal(execFileSync('true').length, 0); // the host can still fork
      await using again = await make(t);
      assert.equal((await sh(again, 'echo fine')).out, 'fine\n');
    });

    test('2 GiB under a 256 MiB limit is killed and reported out-of-memory', { skip: root.probe ? false : 'no gcc -static on this host' }, async (t) => {
      await using sb = await make(t);
      const { result, out } = await sh(sb, 'kiln-probe alloc 2048', { timeoutMs: 60_000 });
      assert.doesNotMatch(out, /allocated 2048/);
      assert.equal(result.killedFor, 'out-of-memory', JSON.stringify(result));
      const ok = await sh(sb, 'kiln-probe alloc 64');
      assert.deepEqual([ok.out, ok.result.killedFor], ['allocated 64 MiB\n', undefined]);
    });

    test('a process killed for memory that the build survives: the run exits 0, not out-of-memory, and says how many were killed (oomKills)', { skip: root.probe ? false : 'no gcc -static on this host' }, async (t) => {
      await using sb = await make(t);
      const { result, out } = await sh(sb, 'kiln-probe alloc 2048 || echo survived; kiln-probe alloc 2048 || echo survived', { timeoutMs: 60_000 });
      assert.equal(out, 'survived\nsurvived\n');
      assert.deepEqual([result.exitCode, result.signal, result.killedFor, result.oomKills], [0, null, undefined, 2], JSON.stringify(result));
      // Counted per run: the next one starts from nothing.
      const ok = await sh(sb, 'kiln-probe alloc 64');
      assert.equal(ok.result.oomKills, undefined, JSON.stringify(ok.result));
    });

    test('filling the tmpfs /tmp past the memory limit: the OOM killer ends the build, not the sandbox\'s init (which reports its status)', async (t) => {
      await using sb = await make(t);
      const { result } = await sh(sb, 'exec dd if=/dev/zero of=/tmp/big bs=1M count=900 2>/dev/null', { timeoutMs: 60_000 });
      assert.equal(result.killedFor, 'out-of-memory', JSON.stringify(result));
      // init's status file says how the build ended: killed by SIGKILL (init itself killed would leave none).
      assert.equal(result.signal, 'SIGKILL', JSON.stringify(result));
    });

    test('rusage comes from the cgroup: cpu time of the whole tree', async (t) => {
      await using sb = await make(t);
      const { result } = await sh(sb, '(i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done) & wait');
      assert.ok(result.rusage !== undefined && result.rusage.userMs + result.rusage.systemMs > 50, JSON.stringify(result.rusage));
    });

    test('after dispose: no mount, no cgroup, no journal entry, no workspace', async (t) => {
      const sb = await make(t);
      await sh(sb, 'echo x > out');
      const workDir = join(sb.host.src, '..', '..');
      const entries = (await readEntries(stateDir)).filter((e) => e.entry?.workDir === workDir);
      assert.equal(entries.length, 1);
      const cgroupDirs = Object.values(entries[0]!.entry!.cgroup!.dirs);
      for (const d of cgroupDirs) await stat(d);
      await sb[Symbol.asyncDispose]();
      assert.deepEqual(await liveMountsUnder(workDir), []);
      for (const d of cgroupDirs) await assert.rejects(stat(d), { code: 'ENOENT' });
      await assert.rejects(stat(workDir), { code: 'ENOENT' });
      assert.equal((await readEntries(stateDir)).filter((e) => e.entry?.workDir === workDir).length, 0);
    });

    test('no env, or a bind into /proc, is refused with a clear error', async (t) => {
      const dir = await mkdtemp(join(stateDir, 'job-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      await assert.rejects(backend.create({ jobId: 'noenv@x', workDir: join(dir, 'a'), limits }), (e) => isKilnError(e) && e.code === 'sandbox-unavailable' && /needs an env/.test(e.message));
      await assert.rejects(
        backend.create({ jobId: 'bind@x', workDir: join(dir, 'b'), limits, env, readOnlyBinds: [{ host: dir, inside: '/proc/x' }] }),
        (e) => isKilnError(e) && e.code === 'unsafe-path',
      );
    });

    test('the host backend is the control: it does see the host network', async (t) => {
      const dir = await mkdtemp(join(stateDir, 'host-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      await using sb = await hostBackend.create({ jobId: 'control@x', workDir: join(dir, 'w'), limits });
      assert.equal(await probeNetwork(sb), true);
    });
  });
} else {
  test('chroot backend', (t) => t.skip(unavailable));
}

/** A DNS server on 127.0.0.1:53 answering every A query with 192.0.2.7 (TEST-NET-1). */
async function startDns(): Promise<{ close: () => void } | undefined> {
  const sock = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    sock.once('error', () => resolve(false));
    sock.bind(53, '127.0.0.1', () => resolve(true));
  });
  if (!ok) return undefined;
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const qEnd = msg.indexOf(0, 12) + 5; // name, then QTYPE + QCLASS
    const qtype = msg.readUInt16BE(qEnd - 4);
    const header = Buffer.from(msg.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2); // response, recursion available, no error
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
    header.writeUInt32BE(0, 8);
    const question = msg.subarray(12, qEnd);
    const answer = qtype === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]) : Buffer.alloc(0);
    sock.send(Buffer.concat([header, question, answer]), rinfo.port, rinfo.address);
  });
  return { close: () => sock.close() };
}
