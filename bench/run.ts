// `npm run bench`: how kiln's own overhead compares to make on the same graph.
//
//   (a) a cold build of a synthetic 10,000-package tree of no-op recipes, wall clock of the
//       whole `kiln build` process, against `make -j<cores>` on the same graph running the
//       same `bash -e -c :` per package. Target: kiln/make <= 1.3.
//   (b) the no-change re-run of that tree (same state dir). Target: <= 1 s.
//   (c) both again on 1,000 packages, as a quick sanity figure.
//   After make, the launch floor (bench/launch-floor.ts): the same commands through kiln's
//   launcher helper with no other work, which splits kiln's ratio into the cost of
//   starting builds from Node at all and kiln's own work per job. Then the file floor
//   (bench/file-floor.c, compiled with cc): the same commands from a small C program that
//   also makes per job the files kiln keeps (a log, an artifact entry), and nothing else:
//   what those files cost on this file system at this moment.
//   Peak RSS of kiln comes from GNU time (/usr/bin/time) when it is installed.
//   CPU per job (kiln, its helpers and every bash, against make and every bash) comes
//   from a cgroup of each side's own, when one can be made (root; cgroup v1 cpuacct or v2).
//
// A measurement, not a test: it prints a table with PASS/FAIL marks and exits 0 either
// way (2 only on bad options). Everything is written to a temp dir removed at the end.
//
//   node bench/run.ts [--packages N] [--only a|b] [--jobs N] [--runs N] [--seed N] [--keep] [--cpu-prof]
//
// --runs N does N rounds of (a) (make, launch floor, kiln cold, each kiln into a fresh state
// dir) and reports the round with the median kiln/make ratio, listing every round's ratio.
// --packages N measures that one size instead of 10,000 + 1,000; --only a skips the
// re-run, --only b skips make (the cold kiln build still runs, untimed, to set up (b));
// --cpu-prof writes V8 CPU profiles of every kiln run into the kept temp dir (they slow
// kiln down: the figures are then not comparable) and prints their hotspots.
// --cold (dag, as root) adds a third run of the no-change case with the kernel's caches
// dropped first (sync; echo 3 > /proc/sys/vm/drop_caches): a re-run after a reboot or
// memory pressure. It drops them for the whole machine; it has no target.

import { mkdir, mkdtemp, rm, readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchSandbox } from './sandbox.ts';
import { benchEnvs } from './envs.ts';
import { benchDebian, debianParts } from './debian.ts';
import { benchDaemon } from './daemon.ts';
import { benchCcache } from './ccache.ts';
import { generateGraph, type BenchGraph } from './graph.ts';
import { measure, tail, type Measured } from './measure.ts';
import { summarizeProfile } from './profile-summary.ts';
import { formatTable, type Row } from './table.ts';
import { writeMakefile, writeTree } from './write-tree.ts';
import { RACY_MS } from '../src/recipes/scan-cache.ts';

const REPO = resolve(import.meta.dirname, '..');
const KILN = join(REPO, 'bin', 'kiln.js');
const LAUNCH_FLOOR = join(REPO, 'bench', 'launch-floor.ts');
const FILE_FLOOR_C = join(REPO, 'bench', 'file-floor.c');
/** The compiled file floor (fileFloorProgram): its path, null when it could not be built, undefined before. */
let fileFloorBuilt: string | null | undefined;
const COLD_RATIO_TARGET = 1.3;
const RERUN_TARGET_MS = 1000;
/** Share of the CPU used by others above which a figure is flagged as unreliable. */
const NOISY = 0.1;

interface Options {
  readonly sizes: readonly number[];
  readonly only: 'a' | 'b' | undefined;
  readonly jobs: number;
  readonly seed: number;
  readonly keep: boolean;
  readonly cpuProf: boolean;
  /** dag: also the no-change re-run with the kernel's caches dropped (root only). */
  readonly cold: boolean;
  /** dag: rounds of (a), the median one reported (--runs; default 1). */
  readonly dagRuns: number;
  /** Which benchmarks: dag (the 10k graph vs make), sandbox (setup+teardown vs tarball), envs (env create vs mmdebstrap). */
  readonly suites: readonly string[];
  /** The debian suite (bench/debian.ts): its parts (--only a,b,c,d), runs of (a), -j of (b) (undefined: cores + 1), sbuild over the set. */
  readonly debian: { readonly parts: readonly string[]; readonly runs: number; readonly jobs: number | undefined; readonly sbuildSet: boolean };
  /** The daemon suite (bench/daemon.ts): seconds of measured load and autocannon connections. */
  readonly daemon: { readonly durationS: number; readonly connections: number };
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      packages: { type: 'string' },
      only: { type: 'string' },
      suite: { type: 'string', default: 'dag,sandbox,envs' },
      jobs: { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      cold: { type: 'boolean', default: false },
      runs: { type: 'string' },
      'no-sbuild-set': { type: 'boolean', default: false },
      duration: { type: 'string' },
      connections: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node bench/run.ts [--suite dag,sandbox,envs,debian] [--packages N] [--only a|b] [--jobs N] [--runs N] [--seed N] [--keep] [--cpu-prof] [--cold]\n' +
      '       node bench/run.ts --suite debian [--only a,b,c,d] [--runs N] [--jobs N] [--no-sbuild-set]   (bench/debian.ts)\n' +
      '       node bench/run.ts --suite daemon [--duration S] [--connections N] [--cpu-prof] [--keep]   (bench/daemon.ts)\n' +
      '       node bench/run.ts --suite ccache [--keep]   (bench/ccache.ts)\n');
    process.exit(0);
  }
  const positive = (name: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) usage(`--${name}: expected a whole number of at least 1, got "${text}"`);
    return n;
  };
  const suites = String(values.suite).split(',');
  let debianOnly: string[] = [];
  try {
    debianOnly = suites.includes('debian') ? debianParts(values.only) : [];
  } catch (e) {
    usage((e as Error).message);
  }
  if (suites.includes('dag') && values.only !== undefined && values.only !== 'a' && values.only !== 'b') usage(`--only: expected a or b, got "${values.only}"`);
  const cpuProf = values['cpu-prof'];
  return {
    sizes: values.packages === undefined ? [10_000, 1_000] : [positive('packages', values.packages, 0)],
    only: suites.includes('dag') ? (values.only as 'a' | 'b' | undefined) : undefined,
    suites,
    debian: { parts: debianOnly, runs: positive('runs', values.runs, 2), jobs: values.jobs === undefined ? undefined : positive('jobs', values.jobs, 0), sbuildSet: !values['no-sbuild-set'] },
    daemon: { durationS: positive('duration', values.duration, 10), connections: positive('connections', values.connections, 50) },
    jobs: positive('jobs', values.jobs, availableParallelism()),
    seed: positive('seed', values.seed, 20240601),
    keep: values.keep || cpuProf,
    cpuProf,
    cold: values.cold,
    dagRuns: positive('runs', suites.includes('debian') ? undefined : values.runs, 1),
  };
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

interface KilnSummary {
  readonly state?: string;
  readonly counts?: Record<string, number>;
}

/** The last stdout line of `kiln build --json` is the run summary. */
function summaryOf(m: Measured): KilnSummary | undefined {
  const last = readFileSync(m.stdoutFile, 'utf8').trimEnd().split('\n').at(-1);
  try {
    const parsed = JSON.parse(last ?? '') as { type?: string } & KilnSummary;
    return parsed.type === 'summary' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Why a kiln run's figure cannot be trusted, or undefined when it did what was asked. */
function kilnProblem(m: Measured, want: { count: number; state: 'built' | 'up-to-date' }): string | undefined {
  if (m.exitCode !== 0) return `kiln exited ${m.exitCode ?? m.signal}:\n${tail(m.stderrFile) || tail(m.stdoutFile)}`;
  const s = summaryOf(m);
  if (s === undefined) return `no summary line on kiln's stdout:\n${tail(m.stdoutFile, 5)}\n${tail(m.stderrFile)}`;
  const got = s.counts?.[want.state] ?? 0;
  if (got !== want.count) return `expected ${want.count} ${want.state}, got ${JSON.stringify(s.counts)}`;
  return undefined;
}

async function benchSize(graph: BenchGraph, o: Options, root: string): Promise<{ rows: Row[]; notes: string[]; cpuNotes: string[] }> {
  const n = graph.packages.length;
  const dir = join(root, `n${n}`);
  const tree = join(dir, 'tree');
  const state = join(dir, 'state');
  const makeDir = join(dir, 'make');
  const out = join(dir, 'out');
  await writeTree(graph, tree);
  const treeWritten = performance.now();
  await writeMakefile(graph, join(makeDir, 'Makefile'));
  await mkdir(out, { recursive: true });

  const rows: Row[] = [];
  const notes: string[] = [];
  const cpuNotes: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, CI: '1' };
  delete env['KILN_STATE'];
  delete env['KILN_CACHE'];
  const profDir = join(dir, 'cpu-prof');
  const nodeArgs = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const kiln = (label: string, stateDir: string): Promise<Measured> =>
    measure([process.execPath, ...nodeArgs, KILN, 'build', '--tree', tree, '--state', stateDir, '--jobs', String(o.jobs), '--json'], { label, outDir: out, cwd: dir, env, cpu: true });
  const say = (text: string): void => void process.stderr.write(`bench: ${text}\n`);

  // Recipes changed less than RACY_MS before a scan are not kept in the scan cache (see
  // scan-cache.ts): a tree written a moment ago (--only b skips make) would make the
  // re-run parse every recipe, which is not the no-change case this figure is about.
  const settleTree = async (): Promise<void> => {
    const young = RACY_MS - (performance.now() - treeWritten);
    if (young > 0) await new Promise((r) => setTimeout(r, young + 50));
  };
  // One round: make, the launch floor (the same bash commands through kiln's launcher,
  // nothing else), then kiln's cold build into a fresh state dir. --runs N does N rounds
  // and reports the one with the median kiln/make ratio (wall times swing between runs).
  interface Round {
    readonly make: Measured | undefined;
    readonly floor: Measured | undefined;
    readonly fileFloor: Measured | undefined;
    readonly cold: Measured;
    readonly problem: string | undefined;
    readonly createUs: number;
    readonly state: string;
  }
  const round = async (i: number): Promise<Round> => {
    const label = o.dagRuns > 1 ? ` (round ${i + 1} of ${o.dagRuns})` : '';
    let make: Measured | undefined;
    let floor: Measured | undefined;
    let fileFloor: Measured | undefined;
    if (o.only !== 'b') {
      say(`n=${n}: make -j${o.jobs}${label}...`);
      make = await measure(['make', '-s', `-j${o.jobs}`, '-f', join(makeDir, 'Makefile'), 'all'], { label: `make-${i}`, outDir: out, cwd: makeDir, cpu: true });
      if (make.exitCode !== 0) {
        notes.push(`make (n=${n}) exited ${make.exitCode ?? make.signal}:\n${tail(make.stderrFile)}`);
        make = undefined;
      }
    }
    if (make !== undefined) {
      say(`n=${n}: launch floor (kiln's launcher alone, -j${o.jobs})${label}...`);
      floor = await measure([process.execPath, LAUNCH_FLOOR, String(n), String(o.jobs), join(dir, `floor-${i}`)], { label: `floor-${i}`, outDir: out, cwd: dir, cpu: true });
      if (floor.exitCode !== 0) {
        notes.push(`launch floor (n=${n}) exited ${floor.exitCode ?? floor.signal}:\n${tail(floor.stderrFile)}`);
        floor = undefined;
      }
      const program = fileFloorProgram(dir, notes);
      if (program !== undefined) {
        say(`n=${n}: file floor (a C program, -j${o.jobs}, kiln's files per job)${label}...`);
        fileFloor = await measure([program, String(n), String(o.jobs), join(dir, `file-floor-${i}`)], { label: `file-floor-${i}`, outDir: out, cwd: dir, cpu: true });
        if (fileFloor.exitCode !== 0) {
          notes.push(`file floor (n=${n}) exited ${fileFloor.exitCode ?? fileFloor.signal}:\n${tail(fileFloor.stderrFile)}`);
          fileFloor = undefined;
        }
      }
    }
    await settleTree();
    const createUs = fileCreateMicros(join(dir, `create-probe-${i}`));
    say(`n=${n}: kiln build (cold)${label}...`);
    const roundState = i === 0 ? state : `${state}-${i}`;
    const cold = await kiln(`kiln-cold-${i}`, roundState);
    const problem = kilnProblem(cold, { count: n, state: 'built' });
    if (problem !== undefined) notes.push(`kiln cold build (n=${n})${label}: ${problem}`);
    return { make, floor, fileFloor, cold, problem, createUs, state: roundState };
  };
  const rounds: Round[] = [];
  for (let i = 0; i < (o.only === 'b' ? 1 : o.dagRuns); i++) rounds.push(await round(i));
  const ratioOf = (r: Round): number | undefined => (r.problem === undefined && r.make !== undefined ? r.cold.wallMs / r.make.wallMs : undefined);
  const measured = rounds.filter((r) => ratioOf(r) !== undefined).sort((a, b) => ratioOf(a)! - ratioOf(b)!);
  const chosen = measured[Math.floor((measured.length - 1) / 2)] ?? rounds.at(-1)!;
  const { cold, make: makeRun, floor: floorRun, fileFloor, createUs } = chosen;
  const coldProblem = chosen.problem;
  if (measured.length > 1) {
    cpuNotes.push(
      `rounds (n=${n}): kiln/make ${rounds.map((r) => ratioOf(r)?.toFixed(2) ?? 'failed').join(', ')}; ` +
        `the figures below are the median round's (kiln ${(cold.wallMs / 1000).toFixed(1)} s, make ${((makeRun?.wallMs ?? 0) / 1000).toFixed(1)} s)`,
    );
  }
  if (o.only !== 'b') {
    const ratio = ratioOf(chosen);
    rows.push({
      figure: `(${n === 10_000 ? 'a' : 'c'}) cold build`,
      packages: n,
      kiln: coldProblem === undefined ? cold.wallMs : undefined,
      baseline: makeRun?.wallMs,
      baselineName: `make -j${o.jobs}`,
      ratio,
      target: `kiln/make <= ${COLD_RATIO_TARGET}`,
      pass: ratio === undefined ? undefined : ratio <= COLD_RATIO_TARGET,
      rssKb: cold.peakRssKb,
      otherLoad: maxOf(cold.foreignCpu, makeRun?.foreignCpu),
    });
    // CPU per job from each side's own cgroup: kiln (helpers and every bash included)
    // against make (every bash included). Holds up when other work shares the cores.
    if (coldProblem === undefined && cold.cpuMs !== undefined && makeRun?.cpuMs !== undefined) {
      const k = cold.cpuMs / n;
      const m = makeRun.cpuMs / n;
      cpuNotes.push(`CPU per job (n=${n}, own cgroup each, every process counted): kiln ${k.toFixed(2)} ms, make -j${o.jobs} ${m.toFixed(2)} ms, ratio ${(k / m).toFixed(2)}x`);
      // The wall time kiln's CPU alone needs, with every core busy all the time: no
      // scheduling can beat it. And the CPU per job the target leaves at that bound.
      const cores = Math.min(o.jobs, availableParallelism());
      const boundMs = (n * k) / cores;
      cpuNotes.push(
        `CPU bound: kiln's CPU alone needs at least ${(boundMs / 1000).toFixed(1)} s on ${cores} cores with none ever idle, ` +
          `${(boundMs / makeRun.wallMs).toFixed(2)}x make's wall; ${COLD_RATIO_TARGET}x make would leave kiln ` +
          `at most ${((COLD_RATIO_TARGET * makeRun.wallMs * cores) / n).toFixed(2)} ms of CPU per job (make's own jobs use ${m.toFixed(2)} ms)`,
      );
    }
    cpuNotes.push(
      `file creation in the bench dir just before kiln's cold build: ${createUs.toFixed(0)} µs per file ` +
        `(kiln creates about 3 files per job, make none; see docs/benchmarks.md on recently deleted files)`,
    );
    if (coldProblem === undefined && makeRun !== undefined && floorRun !== undefined) {
      const f = floorRun.cpuMs === undefined ? '' : `, CPU per job ${(floorRun.cpuMs / n).toFixed(2)} ms`;
      cpuNotes.push(
        `launch floor (n=${n}: the same bash commands through kiln's launcher, -j${o.jobs}, no other work): ${(floorRun.wallMs / 1000).toFixed(1)} s, ` +
          `${(floorRun.wallMs / makeRun.wallMs).toFixed(2)}x make${f}; kiln's own work adds ${((cold.wallMs - floorRun.wallMs) / n).toFixed(2)} ms of wall time per job`,
      );
    }
    if (makeRun !== undefined && fileFloor !== undefined) {
      const f = fileFloor.cpuMs === undefined ? '' : `, CPU per job ${(fileFloor.cpuMs / n).toFixed(2)} ms`;
      cpuNotes.push(
        `file floor (n=${n}: the same bash commands from a C program that makes per job only kiln's files, a log and an artifact entry, -j${o.jobs}): ` +
          `${(fileFloor.wallMs / 1000).toFixed(1)} s, ${(fileFloor.wallMs / makeRun.wallMs).toFixed(2)}x make${f}: what the files cost here now, with no Node at all`,
      );
    }
  }
  // A row of a no-change re-run; `targetMs` undefined: a figure without a target.
  const rerunRow = (what: string, m: Measured, problem: string | undefined, targetMs: number | undefined): Row => ({
    figure: `(${n === 10_000 ? 'b' : 'c'}) ${what}`,
    packages: n,
    kiln: problem === undefined ? m.wallMs : undefined,
    baseline: undefined,
    baselineName: undefined,
    ratio: undefined,
    target: targetMs === undefined ? '-' : `<= ${targetMs / 1000} s`,
    pass: problem === undefined && targetMs !== undefined ? m.wallMs <= targetMs : undefined,
    rssKb: m.peakRssKb,
    otherLoad: m.foreignCpu,
  });
  if (o.only !== 'a') {
    say(`n=${n}: kiln build (no change)...`);
    const again = await kiln('kiln-rerun', chosen.state);
    const problem = coldProblem === undefined ? kilnProblem(again, { count: n, state: 'up-to-date' }) : 'the cold build failed';
    if (problem !== undefined && coldProblem === undefined) notes.push(`kiln no-change re-run (n=${n}): ${problem}`);
    rows.push(rerunRow('no-change re-run', again, problem, RERUN_TARGET_MS));
  }
  if (o.only !== 'a' && o.cold) {
    let dropped: string | undefined = process.getuid?.() === 0 ? undefined : 'dropping the kernel\'s caches needs root';
    if (dropped === undefined) {
      spawnSync('sync');
      try {
        writeFileSync('/proc/sys/vm/drop_caches', '3\n');
      } catch (e) {
        dropped = `cannot drop the kernel's caches here (${(e as Error).message})`;
      }
    }
    if (dropped !== undefined) notes.push(`--cold: skipped: ${dropped}`);
    else {
      say(`n=${n}: kiln build (no change, caches dropped)...`);
      const cold = await kiln('kiln-rerun-cold', chosen.state);
      const problem = coldProblem === undefined ? kilnProblem(cold, { count: n, state: 'up-to-date' }) : 'the cold build failed';
      if (problem !== undefined && coldProblem === undefined) notes.push(`kiln no-change re-run with caches dropped (n=${n}): ${problem}`);
      rows.push(rerunRow('same, caches dropped', cold, problem, undefined));
    }
  }
  if (o.cpuProf) {
    const files = (await readdir(profDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort();
    for (const f of files) notes.push(`CPU profile ${join(profDir, f)}:\n${summarizeProfile(join(profDir, f), { root: REPO })}`);
  }
  return { rows, notes, cpuNotes };
}

/**
 * What creating an empty file costs here now, in µs (the mean over 1,000; the files are
 * left for the temp dir's removal: deleting them would slow the next creations).
 */
function fileCreateMicros(dir: string): number {
  mkdirSync(dir, { recursive: true });
  const count = 1000;
  const started = performance.now();
  for (let i = 0; i < count; i++) closeSync(openSync(join(dir, `f${i}`), 'wx'));
  return ((performance.now() - started) * 1000) / count;
}

function maxOf(...values: Array<number | undefined>): number | undefined {
  const known = values.filter((v) => v !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const root = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
  const cleanup = (): Promise<void> => (o.keep ? Promise.resolve() : rm(root, { recursive: true, force: true }));
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  const rows: Row[] = [];
  const notes: string[] = [];
  const cpuNotes: string[] = [];
  try {
    for (const n of o.suites.includes('dag') ? o.sizes : []) {
      const graph = generateGraph(n, { seed: o.seed });
      process.stderr.write(`bench: n=${n}: ${graph.edges} build-depends, longest path ${graph.depth} packages, seed ${o.seed}\n`);
      const r = await benchSize(graph, o, root);
      rows.push(...r.rows);
      notes.push(...r.notes);
      cpuNotes.push(...r.cpuNotes);
    }
  } finally {
    await cleanup();
  }
  process.stdout.write(`\nkiln bench: ${availableParallelism()} cores, --jobs ${o.jobs}, node ${process.version}, seed ${o.seed}\n\n`);
  process.stdout.write(`${formatTable(rows)}\n`);
  if (cpuNotes.length > 0) process.stdout.write(`\n${cpuNotes.join('\n')}\n`);
  // Both sides need every core: other work on the machine skews the figures, the ratio too.
  const busiest = Math.max(0, ...rows.map((r) => r.otherLoad ?? 0));
  if (busiest > NOISY) {
    process.stdout.write(`\nwarning: other processes used up to ${Math.round(busiest * 100)}% of the machine's CPU during a measurement; run again on a quiet machine\n`);
  }
  if (notes.length > 0) process.stdout.write(`\n${notes.join('\n\n')}\n`);
  if (o.keep) process.stdout.write(`\nkept: ${root}\n`);
  // Isolation issue: per-build sandbox cost against the tarball way, and env creation
  // against plain mmdebstrap (both need root; each says why when it cannot run).
  if (o.suites.includes('sandbox')) {
    process.stdout.write('\n');
    await benchSandbox({ createBase: true, out: (l) => process.stdout.write(`${l}\n`) });
  }
  if (o.suites.includes('envs')) {
    process.stdout.write('\n');
    await benchEnvs({ runs: 1, log: (l) => process.stdout.write(`${l}\n`) });
  }
  // Debian (issue 4 §7): kiln vs sbuild, a bare chroot flow and dose-builddebcheck.
  if (o.suites.includes('debian')) {
    process.stdout.write('\n');
    const d = o.debian;
    await benchDebian({ parts: d.parts, runs: d.runs, jobs: d.jobs ?? availableParallelism() + 1, sbuildSet: d.sbuildSet, log: (l) => process.stdout.write(`${l}\n`) });
  }
  // ccache: the example tree rebuilt with a warm compiler cache against without one.
  if (o.suites.includes('ccache')) {
    process.stdout.write('\n');
    try {
      await benchCcache({ keep: o.keep, log: (l) => process.stdout.write(`${l}\n`) });
    } catch (e) {
      process.stdout.write(`ccache bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  // Daemon (issue 5 §6): GET /api/v1/builds/{id} of a real `kiln serve` under autocannon load while two builds run.
  if (o.suites.includes('daemon')) {
    process.stdout.write('\n');
    try {
      await benchDaemon({ ...o.daemon, cpuProf: o.cpuProf, keep: o.keep, log: (l) => process.stdout.write(`${l}\n`) });
    } catch (e) {
      process.stdout.write(`daemon bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
}

await main();

/**
 * bench/file-floor.c compiled into the bench dir (once per bench run), or undefined, with a
 * note, when there is no working C compiler.
 */
function fileFloorProgram(dir: string, notes: string[]): string | undefined {
  if (fileFloorBuilt !== undefined) return fileFloorBuilt ?? undefined;
  const program = join(dir, 'file-floor');
  const cc = spawnSync(process.env['CC'] ?? 'cc', ['-O2', '-o', program, FILE_FLOOR_C], { encoding: 'utf8' });
  if (cc.status !== 0) {
    notes.push(`file floor skipped: ${process.env['CC'] ?? 'cc'} could not build ${FILE_FLOOR_C}: ${cc.error?.message ?? cc.stderr.trim()}`);
    fileFloorBuilt = null;
    return undefined;
  }
  fileFloorBuilt = program;
  return program;
}
