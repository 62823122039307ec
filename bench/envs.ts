// `kiln env create` against plain mmdebstrap of the same suite and arch, from the same
// mirror (the host's, unless --mirror), alternating which goes first so that neither is
// always the one that warms the mirror's or the page cache. Target (issue 3 §7): kiln adds
// at most 5% to mmdebstrap's time. Judged on the time spent around mmdebstrap (wall clock
// minus what mmdebstrap reports for itself), since on a shared machine mmdebstrap's own
// time swings more than 5% between two identical runs; both wall clocks are printed too.
// Each run makes a full root (~25 s for bookworm amd64, ~100 s for trixie riscv64), in a
// temp dir removed afterwards.
//
//   node bench/envs.ts [--suite bookworm] [--arch amd64] [--runs 1] [--mirror URL] [--keep]
//
// A measurement, not a test: it prints its figures and exits 0 either way (2 on bad
// options or when mmdebstrap or a mirror is missing).

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hostDebianMirror } from '../src/config/mirrors.ts';
import { measure, tail } from './measure.ts';

const REPO = resolve(import.meta.dirname, '..');
const NODE = process.execPath;
const TARGET_OVERHEAD = 0.05;

// `kiln env …` through main() once main.ts registers the verb, else through buildProgram + registerEnv.
const HARNESS = `
const { buildProgram, main } = await import(${JSON.stringify(pathToFileURL(join(REPO, 'src/cli/main.ts')).href)});
const { registerEnv } = await import(${JSON.stringify(pathToFileURL(join(REPO, 'src/cli/env.ts')).href)});
const ctx = { exitCode: 0, stdout: process.stdout, stderr: process.stderr };
const program = await buildProgram(ctx);
if (program.commands.some((c) => c.name() === 'env')) process.exitCode = await main(process.argv.slice(1));
else { registerEnv(program, ctx); await program.parseAsync(process.argv.slice(1), { from: 'user' }); }
`;

export interface EnvBenchOptions {
  readonly suite?: string;
  readonly arch?: string;
  readonly runs?: number;
  readonly mirror?: string;
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

export interface EnvBenchResult {
  readonly suite: string;
  readonly arch: string;
  readonly mirror: string;
  readonly plainMs: readonly number[];
  readonly kilnMs: readonly number[];
  /**
   * Wall clock minus the time mmdebstrap itself reports ("I: success in N seconds"), per
   * run: what is around mmdebstrap (process start, checks, du, renames). Unlike the ratio
   * of wall clocks this stays meaningful on a busy machine, where mmdebstrap's own time
   * varies by tens of seconds between runs.
   */
  readonly plainAroundMs: readonly number[];
  readonly kilnAroundMs: readonly number[];
  readonly plainMedianMs: number;
  readonly kilnMedianMs: number;
  /** kiln / plain - 1 on the median wall clocks (noisy on a busy machine). */
  readonly overhead: number;
  /** Median time kiln adds around mmdebstrap, as a share of mmdebstrap's own median time: the target figure. */
  readonly added: number;
  readonly pass: boolean;
}

/** Flag a figure taken while other processes used more than 10% of the machine. */
function noisy(foreignCpu: number | undefined): string {
  return foreignCpu !== undefined && foreignCpu > 0.1 ? `  (noisy: others used ${Math.round(foreignCpu * 100)}% of the CPU)` : '';
}

/** The duration mmdebstrap prints at its end ("I: success in 21.2 seconds"), in ms. */
function selfReportedMs(...files: string[]): number {
  for (const f of files) {
    const m = /I: success in ([0-9.]+) seconds/.exec(tail(f, 5));
    if (m?.[1] !== undefined) return Number(m[1]) * 1000;
  }
  throw new Error(`no "I: success in N seconds" line in ${files.join(' or ')}`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export async function benchEnvs(options: EnvBenchOptions = {}): Promise<EnvBenchResult> {
  const suite = options.suite ?? 'bookworm';
  const arch = options.arch ?? 'amd64';
  const runs = options.runs ?? 1;
  const log = options.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const mirror = options.mirror ?? (await hostDebianMirror());
  if (mirror === undefined) throw new Error('no Debian mirror in the host apt sources: pass --mirror URL');
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bench-envs-'));
  const plainMs: number[] = [];
  const kilnMs: number[] = [];
  const plainAroundMs: number[] = [];
  const kilnAroundMs: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const plain = async (): Promise<void> => {
        const m = await measure(['mmdebstrap', '--variant=buildd', `--arch=${arch}`, suite, join(dir, `plain-${i}`), mirror], { label: `plain-${i}`, outDir: dir });
        if (m.exitCode !== 0) throw new Error(`mmdebstrap failed (exit ${m.exitCode}):\n${tail(m.stderrFile)}`);
        plainMs.push(m.wallMs);
        plainAroundMs.push(m.wallMs - selfReportedMs(m.stderrFile, m.stdoutFile));
        log(`  run ${i + 1}: mmdebstrap       ${(m.wallMs / 1000).toFixed(1)} s, ${(plainAroundMs.at(-1)! / 1000).toFixed(2)} s around mmdebstrap${noisy(m.foreignCpu)}`);
        await rm(join(dir, `plain-${i}`), { recursive: true, force: true });
      };
      const kiln = async (): Promise<void> => {
        const state = join(dir, `state-${i}`);
        const argv = [NODE, '--input-type=module', '-e', HARNESS, '--', 'env', 'create', 'bench', '--suite', suite, '--arch', arch, '--mirror', mirror, '--state', state];
        const m = await measure(argv, { label: `kiln-${i}`, outDir: dir, cwd: REPO });
        if (m.exitCode !== 0) throw new Error(`kiln env create failed (exit ${m.exitCode}):\n${tail(m.stderrFile)}\n${tail(m.stdoutFile)}`);
        kilnMs.push(m.wallMs);
        kilnAroundMs.push(m.wallMs - selfReportedMs(m.stderrFile, m.stdoutFile));
        log(`  run ${i + 1}: kiln env create  ${(m.wallMs / 1000).toFixed(1)} s, ${(kilnAroundMs.at(-1)! / 1000).toFixed(2)} s around mmdebstrap${noisy(m.foreignCpu)}`);
        await rm(state, { recursive: true, force: true });
      };
      if (i % 2 === 0) {
        await plain();
        await kiln();
      } else {
        await kiln();
        await plain();
      }
    }
  } finally {
    if (options.keep !== true) await rm(dir, { recursive: true, force: true });
    else log(`  kept ${dir}`);
  }
  const plainMedianMs = median(plainMs);
  const kilnMedianMs = median(kilnMs);
  const overhead = kilnMedianMs / plainMedianMs - 1;
  // kiln's own cost relative to mmdebstrap's run: what kiln adds around it, less what a bare
  // mmdebstrap process also spends around its own reported time.
  const added = (median(kilnAroundMs) - median(plainAroundMs)) / median(plainMs.map((w, i) => w - (plainAroundMs[i] ?? 0)));
  return {
    suite, arch, mirror, plainMs, kilnMs, plainAroundMs, kilnAroundMs, plainMedianMs, kilnMedianMs, overhead,
    added, pass: added <= TARGET_OVERHEAD,
  };
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        suite: { type: 'string', default: 'bookworm' },
        arch: { type: 'string', default: 'amd64' },
        runs: { type: 'string', default: '1' },
        mirror: { type: 'string' },
        keep: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`bench/envs.ts: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write(`bench/envs.ts: --runs: expected a whole number of at least 1\n`);
    process.exit(2);
  }
  if (spawnSync('mmdebstrap', ['--version']).status !== 0) {
    process.stderr.write('bench/envs.ts: mmdebstrap is not installed (apt-get install mmdebstrap)\n');
    process.exit(2);
  }
  process.stdout.write(`kiln env create vs mmdebstrap: ${values.suite} ${values.arch}, ${runs} run(s) each\n`);
  const r = await benchEnvs({ suite: values.suite, arch: values.arch, runs, keep: values.keep, ...(values.mirror === undefined ? {} : { mirror: values.mirror }) });
  process.stdout.write(
    `wall clock: mmdebstrap median ${(r.plainMedianMs / 1000).toFixed(1)} s, kiln env create median ${(r.kilnMedianMs / 1000).toFixed(1)} s (${r.overhead >= 0 ? '+' : ''}${(r.overhead * 100).toFixed(1)}%)\n` +
      `around mmdebstrap: plain ${(median(r.plainAroundMs) / 1000).toFixed(2)} s, kiln ${(median(r.kilnAroundMs) / 1000).toFixed(2)} s: ` +
      `kiln adds ${(r.added * 100).toFixed(1)}% (target <= ${TARGET_OVERHEAD * 100}%) ${r.pass ? 'PASS' : 'FAIL'}\n`,
  );
}
