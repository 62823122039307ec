// The sandbox contract: one node:test suite every backend must pass. Behaviour all
// backends share (exit status, streaming, limits, dispose) is always checked; each
// isolation property is checked only when the backend claims it, and skipped with a note
// otherwise. Processes are looked for in the host's /proc by a unique `sleep 300.<digits>`
// argument, which works whatever pid namespace the sandbox uses.
//
// Commands run inside are POSIX sh plus coreutils (sleep, env, ls, touch, head, tr, nohup,
// setsid); the no-network probe needs bash for /dev/tcp.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { isKilnError } from '../errors.ts';
import { spawn } from 'node:child_process';
import type { Guarantee, RunResult, RunSpec, Sandbox, SandboxBackend, SandboxEnv, SandboxLimits } from './sandbox.ts';

export interface ContractOptions {
  /** Suite name (default: the backend's name), to tell several configurations apart. */
  readonly label?: string;
  /** Where workspaces and probe files are made (default: the OS temp dir). */
  readonly tmpRoot?: string;
  /** PATH for commands inside the sandbox. */
  readonly path?: string;
  readonly limits?: SandboxLimits;
  /** The env sandboxes are made from (chroot and rootless need one). */
  readonly env?: SandboxEnv;
}

interface Ctx {
  readonly backend: SandboxBackend;
  readonly path: string;
  readonly limits: SandboxLimits;
  readonly tmpRoot: string;
  readonly env?: SandboxEnv;
}

export interface Ran {
  readonly result: RunResult;
  readonly out: string;
  readonly err: string;
}

/** Run a sh script in the sandbox's src dir with a minimal environment, collecting its output. */
export async function sh(
  sb: Sandbox,
  script: string,
  options: Partial<RunSpec> & { readonly path?: string } = {},
): Promise<Ran> {
  const { path, onOutput, ...spec } = options;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const result = await sb.run({
    argv: ['/bin/sh', '-c', script],
    cwd: sb.inside.src,
    env: { PATH: path ?? '/usr/local/bin:/usr/bin:/bin', HOME: sb.inside.home, TMPDIR: sb.inside.tmp },
    ...spec,
    onOutput: (stream, chunk) => {
      (stream === 'stdout' ? out : err).push(chunk);
      onOutput?.(stream, chunk);
    },
  });
  return { result, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
}

/** Probe: can a command inside reach a TCP server the test runs on the host's 127.0.0.1? */
export async function probeNetwork(sb: Sandbox): Promise<boolean> {
  const server = createServer((socket) => socket.end('hello from the host\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const { out } = await sh(sb, `exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3'`, { timeoutMs: 5000 });
    return out.includes('hello from the host');
  } finally {
    server.close();
  }
}

/** Probe: is a file that exists on the host outside the workspace visible inside? */
export async function probeOutsideFile(sb: Sandbox, hostFile: string): Promise<boolean> {
  const { result } = await sh(sb, `test -e '${hostFile}'`);
  return result.exitCode === 0;
}

export function sandboxContract(backend: SandboxBackend, options: ContractOptions = {}): void {
  const ctx: Ctx = {
    backend,
    path: options.path ?? '/usr/local/bin:/usr/bin:/bin',
    limits: options.limits ?? { cpus: 1, memoryBytes: 64 * 1024 * 1024, pids: 256 },
    tmpRoot: options.tmpRoot ?? tmpdir(),
    ...(options.env === undefined ? {} : { env: options.env }),
  };
  const claims = (g: Guarantee) => backend.guarantees.includes(g);
  const guarded = (g: Guarantee, name: string, fn: (t: TestContext) => Promise<void>) =>
    test(`${g}: ${name}`, async (t) => {
      if (!claims(g)) return t.skip(`${backend.name} does not claim ${g}`);
      await fn(t);
    });

  describe(`sandbox contract: ${options.label ?? backend.name}`, () => {
    test('exit status and death by signal are reported', async (t) => {
      await using sb = await fresh(ctx, t);
      for (const code of [0, 1, 42, 137]) assert.equal((await sh(sb, `exit ${code}`)).result.exitCode, code);
      const killed = (await sh(sb, 'kill -TERM $$')).result;
      assert.deepEqual([killed.exitCode, killed.signal, killed.killedFor], [null, 'SIGTERM', undefined]);
    });

    test('stdout and stderr stream while the command runs', async (t) => {
      await using sb = await fresh(ctx, t);
      const go = join(sb.host.tmp, 'go');
      const seen: string[] = [];
      // The command only finishes after the test reacts to its first line.
      const { result, out, err } = await sh(sb, `echo first; echo oops >&2; while [ ! -e ${sb.inside.tmp}/go ]; do sleep 0.01; done; echo second`, {
        timeoutMs: 10_000,
        onOutput: (stream, chunk) => {
          seen.push(`${stream}:${chunk}`);
          if (chunk.includes('first')) void writeFile(go, '');
        },
      });
      assert.equal(result.exitCode, 0);
      assert.equal(out, 'first\nsecond\n');
      assert.equal(err, 'oops\n');
      assert.ok(seen.length >= 2);
    });

    test('wall-clock timeout, silent timeout and cancel end the command', async (t) => {
      await using sb = await fresh(ctx, t);
      const m = marker();
      const timeout = await sh(sb, `sleep ${m}`, { timeoutMs: 300 });
      assert.equal(timeout.result.killedFor, 'timeout');
      assert.ok(timeout.result.durationMs < 5000);
      const silent = await sh(sb, `echo hi; sleep ${m}`, { silentTimeoutMs: 300 });
      assert.equal(silent.result.killedFor, 'silent');
      assert.equal(silent.out, 'hi\n');
      const ac = new AbortController();
      const cancelled = await sh(sb, `echo started; sleep ${m}`, {
        signal: ac.signal,
        onOutput: (_s, chunk) => chunk.includes('started') && ac.abort(),
      });
      assert.equal(cancelled.result.killedFor, 'cancelled');
      assert.equal(cancelled.result.exitCode, null);
      await assertGone(m);
    });

    test('dispose removes the workspace, even read-only parts of it', async (t) => {
      const sb = await fresh(ctx, t);
      const made = await sh(sb, 'mkdir -p ro/deep && touch ro/deep/f && chmod -R a-w ro && chmod 0 ro/deep');
      assert.equal(made.result.exitCode, 0, made.err);
      const workDir = workDirs.get(sb)!;
      await sb[Symbol.asyncDispose]();
      await assert.rejects(stat(workDir), { code: 'ENOENT' });
    });

    test('dispose keeps the workspace when keep() says so', async (t) => {
      const sb = await fresh(ctx, t, { keep: () => true });
      await sh(sb, 'echo kept > result');
      await sb[Symbol.asyncDispose]();
      assert.equal(await readFile(join(sb.host.src, 'result'), 'utf8'), 'kept\n');
    });

    guarded('fresh-workspace', 'every layout directory exists and is empty, inside and out', async (t) => {
      await using sb = await fresh(ctx, t);
      for (const dir of Object.values(sb.host)) assert.deepEqual(await readdir(dir), [], dir);
      const dirs = Object.values(sb.inside).join(' ');
      const { out } = await sh(sb, `for d in ${dirs}; do [ -d "$d" ] && [ -z "$(ls -A "$d")" ] || echo "not fresh: $d"; done`);
      assert.equal(out, '');
    });

    guarded('fresh-workspace', 'two sandboxes do not share their directories', async (t) => {
      await using a = await fresh(ctx, t);
      await using b = await fresh(ctx, t);
      await sh(a, 'echo a > "$HOME/mine"; echo a > mine; echo a > "$TMPDIR/mine"');
      for (const key of ['src', 'home', 'tmp'] as const) assert.notEqual(a.host[key], b.host[key]);
      const { out } = await sh(b, `ls -A ${Object.values(b.inside).join(' ')}`);
      assert.doesNotMatch(out, /mine/);
    });

    guarded('fresh-workspace', 'a workDir that is not empty is refused', async (t) => {
      const root = await mkdtemp(join(ctx.tmpRoot, 'kiln-contract-'));
      t.after(() => rm(root, { recursive: true, force: true }));
      await writeFile(join(root, 'leftover'), '');
      await assert.rejects(
        backend.create({ jobId: 'contract@any', workDir: root, limits: ctx.limits }),
        (e: unknown) => isKilnError(e) && e.message.includes(root),
      );
    });

    guarded('clean-environment', 'the environment is exactly the one given', async (t) => {
      await using sb = await fresh(ctx, t);
      process.env.KILN_CONTRACT_CANARY = 'leaked';
      t.after(() => delete process.env.KILN_CONTRACT_CANARY);
      const env = { PATH: ctx.path, ONLY_THIS: 'a b=c' };
      const out: Buffer[] = [];
      const r = await sb.run({ argv: ['env'], cwd: sb.inside.src, env, onOutput: (_s, c) => void out.push(c) });
      assert.equal(r.exitCode, 0);
      // Backends may add their kill cookie, nothing else.
      const got = Buffer.concat(out).toString().trim().split('\n').filter((l) => !l.startsWith('KILN_JOB_COOKIE='));
      assert.deepEqual(got.sort(), Object.entries(env).map(([k, v]) => `${k}=${v}`).sort());
    });

    guarded('process-tree-killed', 'background and daemonized descendants are gone after the run', async (t) => {
      await using sb = await fresh(ctx, t);
      const m = marker();
      const ready = (n: number) => `${sb.inside.tmp}/ready${n}`;
      const { result } = await sh(
        sb,
        [
          `(setsid sh -c 'touch ${ready(1)}; exec sleep ${m}' >/dev/null 2>&1 &)`,
          `nohup sh -c 'touch ${ready(2)}; exec sleep ${m}' >/dev/null 2>&1 &`,
          `sh -c "sh -c 'touch ${ready(3)}; exec sleep ${m}' & exit 0"`,
          `while [ ! -e ${ready(1)} ] || [ ! -e ${ready(2)} ] || [ ! -e ${ready(3)} ]; do sleep 0.01; done`,
        ].join('\n'),
        { timeoutMs: 10_000 },
      );
      assert.equal(result.exitCode, 0);
      await assertGone(m);
    });

    guarded('process-tree-killed', 'a daemon is gone after a timeout, and a run cut short by dispose', async (t) => {
      const m = marker();
      {
        await using sb = await fresh(ctx, t);
        const r = await sh(sb, `(setsid sleep ${m} &); exec sleep ${m}`, { timeoutMs: 300 });
        assert.equal(r.result.killedFor, 'timeout');
        await assertGone(m);
      }
      const sb = await fresh(ctx, t);
      let started!: () => void;
      const up = new Promise<void>((resolve) => (started = resolve));
      const running = sh(sb, `(setsid sleep ${m} &); echo up; exec sleep ${m}`, { onOutput: () => started() });
      await up;
      await sb[Symbol.asyncDispose]();
      assert.equal((await running).result.killedFor, 'cancelled');
      await assertGone(m);
    });

    guarded('no-network', 'a TCP server on the host loopback is unreachable', async (t) => {
      await using sb = await fresh(ctx, t);
      assert.equal(await probeNetwork(sb), false);
    });

    guarded('private-root', 'a file outside the workspace is invisible', async (t) => {
      const outside = await mkdtemp(join(ctx.tmpRoot, 'kiln-outside-'));
      t.after(() => rm(outside, { recursive: true, force: true }));
      await writeFile(join(outside, 'secret'), 'host only');
      await using sb = await fresh(ctx, t);
      assert.equal(await probeOutsideFile(sb, join(outside, 'secret')), false);
    });

    guarded('resource-limits', 'memory beyond the limit is refused or killed', async (t) => {
      await using sb = await fresh(ctx, t);
      const bytes = ctx.limits.memoryBytes * 4;
      const { result, out } = await sh(sb, `x=$(head -c ${bytes} /dev/zero | tr '\\0' a); echo \${#x}`, { timeoutMs: 60_000 });
      assert.notEqual(out.trim(), String(bytes), 'the command got all the memory it asked for');
      assert.ok(result.killedFor === 'out-of-memory' || result.exitCode !== 0, JSON.stringify(result));
    });

    // ---- checks of the isolated backends' properties (added with the chroot backend) ----

    guarded('private-root', 'writes aimed at host files and the host /tmp do not reach the host', async (t) => {
      const outside = await mkdtemp(join(ctx.tmpRoot, 'kiln-canary-'));
      t.after(() => rm(outside, { recursive: true, force: true }));
      const canary = join(outside, 'canary');
      await writeFile(canary, 'original\n');
      const hostTmp = join(tmpdir(), `kiln-canary-${randomInt(1e9)}`);
      t.after(() => rm(hostTmp, { force: true }));
      await using sb = await fresh(ctx, t);
      await sh(sb, `echo changed > '${canary}'; mkdir -p '${outside}' && echo changed > '${canary}'; echo new > '${hostTmp}'`);
      assert.equal(await readFile(canary, 'utf8'), 'original\n');
      assert.deepEqual(await readdir(outside), ['canary']);
      await assert.rejects(stat(hostTmp), { code: 'ENOENT' });
    });

    guarded('private-root', 'processes of the host and of another sandbox are invisible', async (t) => {
      const m = marker();
      const hostSleep = spawn('sleep', [m], { stdio: 'ignore' });
      t.after(() => hostSleep.kill('SIGKILL'));
      await using a = await fresh(ctx, t);
      await using b = await fresh(ctx, t);
      const ready = join(a.host.tmp, 'ready');
      const other = sh(a, `(sleep ${m} &); touch ${a.inside.tmp}/ready; sleep ${m}`, { timeoutMs: 20_000 });
      t.after(() => other);
      await until(async () => (await stat(ready).catch(() => undefined)) !== undefined);
      const { out } = await sh(b, `for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < "$f"; echo; done 2>/dev/null`);
      assert.ok(out.includes('/proc/[0-9]*/cmdline'), 'the probe did not even see itself: it cannot tell anything');
      assert.doesNotMatch(out, new RegExp(m.replace('.', '\\.')));
      await a[Symbol.asyncDispose]();
    });

    guarded('resource-limits', 'the pids limit stops a burst of processes', async (t) => {
      const pids = ctx.limits.pids;
      if (pids === undefined) return t.skip('no pids limit given');
      await using sb = await fresh(ctx, t);
      const m = marker();
      // Bounded on purpose (twice the limit), so a backend that fails this cannot take the host down.
      const { result, out } = await sh(sb, `i=0; while [ $i -lt ${pids * 2} ]; do sleep ${m} & i=$((i+1)); done; echo all started`, { timeoutMs: 60_000 });
      assert.doesNotMatch(out, /all started/);
      assert.notEqual(result.exitCode, 0);
      await assertGone(m);
    });

    guarded('resource-limits', 'a process that outgrows the memory limit is killed and reported out-of-memory', async (t) => {
      await using sb = await fresh(ctx, t);
      // tail keeps the whole last line, and /dev/zero has no newline.
      const { result } = await sh(sb, `head -c ${ctx.limits.memoryBytes * 4} /dev/zero | tail -n 1 > /dev/null`, { timeoutMs: 60_000 });
      assert.equal(result.killedFor, 'out-of-memory', JSON.stringify(result));
    });
  });
}

async function until(check: () => Promise<boolean>, withinMs = 10_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A new sandbox in a new temp root, removed (with the root) when the test ends. */
async function fresh(ctx: Ctx, t: TestContext, extra: { keep?: () => boolean } = {}): Promise<Sandbox> {
  const root = await mkdtemp(join(ctx.tmpRoot, 'kiln-contract-'));
  t.after(() => rm(root, { recursive: true, force: true, maxRetries: 3 }));
  const workDir = join(root, 'work');
  const sb = await ctx.backend.create({ jobId: `contract@${randomInt(1e9)}`, workDir, limits: ctx.limits, ...(ctx.env === undefined ? {} : { env: ctx.env }), ...extra });
  workDirs.set(sb, workDir);
  return sb;
}

const workDirs = new WeakMap<Sandbox, string>();

/** A unique `sleep` duration whose text can be searched for in /proc/<pid>/cmdline. */
function marker(): string {
  return `300.${randomInt(1e8, 1e9)}`;
}

async function assertGone(m: string): Promise<void> {
  const alive: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
    if (cmdline.split('\0').includes(m)) alive.push(Number(name));
  }
  assert.deepEqual(alive, [], `processes running "sleep ${m}" survived`);
}
