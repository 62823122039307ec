// Sandbox benchmark: per-build setup + teardown of a chroot sandbox (overlay mount,
// namespaces, cgroup with limits, journal; measured as create + run `true` + dispose)
// against the way of the RISC-V seed scripts, extracting a tarball of the same base into a
// fresh directory and deleting it afterwards. Median of N (default 20) of each, same run.
// Targets: sandbox ≥ 100× faster than the tarball, and < 100 ms median.
//
//   node bench/sandbox.ts [--base DIR | --create-base] [--runs N]
//
// The base: --base DIR (e.g. an env made by `kiln env create`, or mmdebstrap --variant=buildd),
// else $KILN_BENCH_BASE, else --create-base runs mmdebstrap --variant=buildd bookworm into
// a temp dir with the host's Debian mirror; without any of them the small test root of the
// test suite (a few MB of host binaries) is used, and the output says so. Needs root.

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostDebianMirror } from '../src/config/mirrors.ts';
import { chrootUnavailable, createChrootBackend } from '../src/sandbox/chroot/chroot-backend.ts';
import { testRoot } from '../test/helpers/test-root.ts';

export interface SandboxBenchOptions {
  readonly base?: string;
  readonly createBase?: boolean;
  readonly runs?: number;
  readonly out?: (line: string) => void;
}

export interface SandboxBenchResult {
  readonly base: string;
  readonly baseKind: string;
  readonly sandboxMs: number;
  readonly createMs: number;
  readonly runMs: number;
  readonly disposeMs: number;
  readonly tarballMs: number;
  readonly ratio: number;
}

const RATIO_TARGET = 100;
const SANDBOX_TARGET_MS = 100;

export async function benchSandbox(options: SandboxBenchOptions = {}): Promise<SandboxBenchResult | undefined> {
  const out = options.out ?? ((l: string) => console.log(l));
  const why = chrootUnavailable();
  if (why !== undefined) {
    out(`sandbox bench skipped: ${why}`);
    return undefined;
  }
  const runs = options.runs ?? 20;
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-sandbox-'));
  try {
    const { base, kind } = await pickBase(options, scratch, out);
    out(`sandbox bench: base ${kind} (${base}, ${du(base)}), ${runs} runs each`);

    const stateDir = join(scratch, 'state');
    const backend = createChrootBackend({ stateDir });
    const env = { id: 'bench@1', name: 'bench', arch: 'amd64', layers: [base] };
    const create: number[] = [];
    const run: number[] = [];
    const dispose: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      const sb = await backend.create({ jobId: `bench@${i}`, workDir: join(stateDir, 'work', String(i)), limits: { cpus: 1, memoryBytes: 1 << 30 }, env });
      const t1 = performance.now();
      const r = await sb.run({ argv: ['true'], cwd: sb.inside.src, env: { PATH: '/usr/bin:/bin' }, onOutput: () => undefined });
      const t2 = performance.now();
      await sb[Symbol.asyncDispose]();
      const t3 = performance.now();
      if (r.exitCode !== 0) throw new Error(`the sandbox run failed: ${JSON.stringify(r)}`);
      if (i === 0) continue; // warm-up: first perl start, page cache
      create.push(t1 - t0);
      run.push(t2 - t1);
      dispose.push(t3 - t2);
      total.push(t3 - t0);
    }

    const tar = join(scratch, 'base.tar');
    execFileSync('tar', ['-C', base, '--one-file-system', '-cf', tar, '.'], { stdio: 'ignore' });
    const extract: number[] = [];
    for (let i = 0; i < runs; i++) {
      const dir = join(scratch, 'extract', String(i));
      const t0 = performance.now();
      await mkdir(dir, { recursive: true });
      execFileSync('tar', ['-C', dir, '-xf', tar], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
      extract.push(performance.now() - t0);
    }

    const result: SandboxBenchResult = {
      base,
      baseKind: kind,
      sandboxMs: median(total),
      createMs: median(create),
      runMs: median(run),
      disposeMs: median(dispose),
      tarballMs: median(extract),
      ratio: median(extract) / median(total),
    };
    const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
    out(`  sandbox setup+teardown  median ${fmt(result.sandboxMs)}  (create ${fmt(result.createMs)}, run true ${fmt(result.runMs)}, dispose ${fmt(result.disposeMs)})  target < ${SANDBOX_TARGET_MS} ms: ${mark(result.sandboxMs < SANDBOX_TARGET_MS)}`);
    out(`  tarball extract+delete  median ${fmt(result.tarballMs)}`);
    out(`  ratio                   ${result.ratio.toFixed(0)}×  target ≥ ${RATIO_TARGET}×: ${mark(result.ratio >= RATIO_TARGET)}`);
    return result;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function pickBase(options: SandboxBenchOptions, scratch: string, out: (l: string) => void): Promise<{ base: string; kind: string }> {
  const given = options.base ?? process.env['KILN_BENCH_BASE'];
  if (given !== undefined) return { base: resolve(given), kind: 'given with --base or $KILN_BENCH_BASE' };
  if (options.createBase === true) {
    const dir = join(scratch, 'bookworm-buildd');
    const mirror = (await hostDebianMirror()) ?? '';
    out(`creating a bookworm buildd base with mmdebstrap (${mirror === '' ? 'its default mirror' : 'the host\'s mirror'})…`);
    execFileSync('mmdebstrap', ['--quiet', '--variant=buildd', 'bookworm', dir, ...(mirror === '' ? [] : [mirror])], { stdio: ['ignore', 'ignore', 'inherit'] });
    return { base: dir, kind: 'bookworm buildd (mmdebstrap)' };
  }
  return { base: testRoot().path, kind: 'test root (host binaries; pass --base or --create-base for a real Debian base)' };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

function du(dir: string): string {
  try {
    return execFileSync('du', ['-sh', '--one-file-system', dir], { encoding: 'utf8' }).split('\t')[0] ?? '?';
  } catch {
    return '?';
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { base: { type: 'string' }, 'create-base': { type: 'boolean' }, runs: { type: 'string' } } });
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1)) {
    console.error(`--runs: expected a whole number of at least 1, got "${values.runs}"`);
    process.exit(2);
  }
  await benchSandbox({
    ...(values.base === undefined ? {} : { base: values.base }),
    ...(values['create-base'] === true ? { createBase: true } : {}),
    ...(runs === undefined ? {} : { runs }),
  });
}
