// `npm run bench -- --suite debian [--only a,b,c,d]`: kiln's Debian builds against sbuild,
// a bare chroot flow and dose-builddebcheck, on the real archive (issue 4 §7):
//
//   (a) one package (hello from bookworm): kiln vs `sbuild --chroot-mode=unshare` vs bare
//       overlay + chroot + dpkg-buildpackage, same .dsc, parallel=1 nocheck, warm caches
//       (an untimed warm-up of each, then timed runs, alternating). Target: kiln <= 0.7x sbuild.
//   (b) a set of small bookworm sources with build-dependency chains among them (libogg →
//       libvorbis, libmd → libbsd): kiln's makespan vs max(critical path, build CPU / cores)
//       from kiln's own job records, vs sbuild building them one after another, with
//       /proc/stat sampled every 0.5 s. Targets: <= 1.15x the bound, >= 1.5x faster than
//       sbuild, cores >= 90% busy while there is ready work for every core.
//   (c) `kiln plan --debian bookworm --all --arch amd64`: wall clock and peak RSS, kiln's own
//       share (all but dose-builddebcheck), dose-builddebcheck alone on the same indexes, and
//       the two uninstallable sets compared; plus a plan of a handful of sources. Targets: same
//       set; own share <= 2 s; handful <= 2 s.
//   (d) riscv64 under QEMU (opt-in, ~15 min): kiln vs the bare flow on trixie `sl`. Target:
//       kiln adds <= 5%.
//
// Needs root, mmdebstrap, sbuild, dose-builddebcheck (scripts/setup.sh) and the network.
// Caches (downloads, indexes, sbuild's tarball and apt cache, kiln's state) live under
// /var/tmp/kiln-bench-debian; envs are shared through KILN_ENVS (/var/tmp/kiln-test-envs,
// test/helpers/shared-env.ts). A measurement, not a test: it prints figures and exits 0.
//
//   node bench/debian.ts [--only a,b,c] [--runs 2] [--jobs N] [--no-sbuild-set] [--keep]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hostDebianMirror } from '../src/config/mirrors.ts';
import { parseDoseReport } from '../src/debian/installability.ts';
import { createIndexes } from '../src/debian/indexes.ts';
import { SHARED_ENVS, sharedEnv } from '../test/helpers/shared-env.ts';
import { envRoot, runBare, runSbuild, setupSbuild, type SbuildSetup } from './debian-baselines.ts';
import { busyWhileReady, CpuSampler, lowerBound, type JobTiming } from './debian-cpu.ts';
import { placeDebianSources, type PlacedSource } from './debian-sources.ts';
import { measure, tail, type Measured } from './measure.ts';

const REPO = resolve(import.meta.dirname, '..');
const KILN = join(REPO, 'bin', 'kiln.js');
export const BENCH_DIR = process.env['KILN_BENCH_DEBIAN'] ?? '/var/tmp/kiln-bench-debian';
/** Small bookworm sources; libvorbis waits for libogg, libbsd for libmd. */
export const DEBIAN_SET = ['libogg', 'libvorbis', 'libmd', 'libbsd', 'pv', 'tree', 'figlet', 'hello'];

export interface DebianBenchOptions {
  readonly parts: readonly string[];
  readonly runs: number;
  readonly jobs: number;
  readonly sbuildSet: boolean;
  readonly log: (line: string) => void;
}

const s = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
const median = (xs: readonly number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
const mark = (pass: boolean): string => (pass ? 'PASS' : 'FAIL');
// Not for kiln builds: their CPU is spent in the sandbox's cgroup, which GNU time does not see.
const load = (m: Measured): string => (m.foreignCpu !== undefined && m.foreignCpu > 0.1 ? ` (others used ${Math.round(m.foreignCpu * 100)}% of the CPU)` : '');

interface Ctx {
  readonly mirror: string;
  readonly cache: string;
  readonly out: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: (line: string) => void;
}

type KilnEventLine = { type: string; jobId?: string; state?: string; startedAt?: number; at?: number; rusage?: { userMs: number; systemMs: number }; counts?: Record<string, number> };

function events(m: Measured): KilnEventLine[] {
  return readFileSync(m.stdoutFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as KilnEventLine);
}

async function kilnBuild(c: Ctx, o: { suite: string; arch: string; names: readonly string[]; state: string; jobs: number; overcommit?: number; label: string }): Promise<{ m: Measured; ev: KilnEventLine[] }> {
  const argv = [process.execPath, KILN, 'build', '--debian', o.suite, ...o.names, '--arch', o.arch, '--nocheck', '--cpus', '1', '-j', String(o.jobs),
    ...(o.overcommit ? ['--overcommit-cpus', String(o.overcommit)] : []), '--state', o.state, '--cache', c.cache, '--force', '*', '--json'];
  const m = await measure(argv, { label: o.label, outDir: c.out, cwd: REPO, env: c.env });
  const ev = events(m);
  const built = ev.filter((e) => e.type === 'job-finished' && e.state === 'built').length;
  if (m.exitCode !== 0 || built !== o.names.length) {
    throw new Error(`kiln build (${o.label}) exited ${m.exitCode}, ${built} of ${o.names.length} built:\n${tail(m.stderrFile)}`);
  }
  return { m, ev };
}

function ok(m: Measured, what: string): Measured {
  if (m.exitCode !== 0) throw new Error(`${what} exited ${m.exitCode ?? m.signal}:\n${tail(m.stdoutFile)}\n${tail(m.stderrFile)}`);
  return m;
}

/** Where a kiln job's time went: the `==> phase X at` lines of its log. */
async function phases(state: string, name: string): Promise<string> {
  const logs = join(state, 'logs');
  const runs = (await import('node:fs/promises').then((f) => f.readdir(logs))).sort();
  const file = join(logs, runs.at(-1)!, `${name}_amd64.log`);
  if (!existsSync(file)) return '';
  const marks = [...(await readFile(file, 'utf8')).matchAll(/^\[\s*([0-9.]+)\] k ==> phase (\S+) at/gm)].map((x) => ({ t: Number(x[1]), p: x[2]! }));
  return marks.map((x, i) => `${x.p} ${((marks[i + 1]?.t ?? x.t) - x.t).toFixed(1)}s`).join(', ');
}

// ---- (a) one package ------------------------------------------------------------------------
async function partA(c: Ctx, sb: SbuildSetup | string, o: DebianBenchOptions): Promise<void> {
  const [hello] = await placeDebianSources({ mirror: c.mirror, suite: 'bookworm', names: ['hello'], cacheDir: c.cache, dir: join(BENCH_DIR, 'src') });
  const state = join(BENCH_DIR, 'state-a');
  const root = envRoot(SHARED_ENVS, 'bookworm-amd64')!;
  const bareApt = join(BENCH_DIR, 'bare-apt');
  const kiln = (label: string) => kilnBuild(c, { suite: 'bookworm', arch: 'amd64', names: ['hello'], state, jobs: 1, label }).then((r) => r.m);
  const sbuild = typeof sb === 'string' ? undefined : (label: string) => runSbuild(sb, { dsc: hello!.dsc, suite: 'bookworm', arch: 'amd64', label, outDir: c.out }).then((m) => ok(m, 'sbuild'));
  const bare = (label: string) => runBare({ envRoot: root, dsc: hello!.dsc, aptDir: bareApt, mirror: c.mirror, suite: 'bookworm', label, outDir: c.out }).then((m) => ok(m, 'bare flow'));
  o.log(`(a) hello ${hello!.version}: warm-up (untimed): kiln, sbuild, bare`);
  await kiln('a-kiln-warm');
  if (sbuild !== undefined) await sbuild('a-sbuild-warm');
  await bare('a-bare-warm');
  const t = { kiln: [] as number[], sbuild: [] as number[], bare: [] as number[] };
  for (let i = 0; i < o.runs; i++) {
    const order: Array<['kiln' | 'sbuild' | 'bare', ((l: string) => Promise<Measured>) | undefined]> = [['kiln', kiln], ['sbuild', sbuild], ['bare', bare]];
    if (i % 2 === 1) order.reverse();
    for (const [name, f] of order) {
      if (f === undefined) continue;
      const m = await f(`a-${name}-${i}`);
      t[name].push(m.wallMs);
      o.log(`  run ${i + 1}: ${name.padEnd(6)} ${s(m.wallMs)}${name === 'kiln' ? '' : load(m)}${name === 'kiln' ? `  [${await phases(state, 'hello')}]` : ''}`);
    }
  }
  const k = median(t.kiln);
  o.log(`(a) median of ${o.runs}: kiln ${s(k)}, sbuild ${typeof sb === 'string' ? `not run (${sb})` : s(median(t.sbuild))}, bare ${s(median(t.bare))}`);
  if (t.sbuild.length > 0) {
    const r = k / median(t.sbuild);
    o.log(`(a) kiln/sbuild ${r.toFixed(2)}x (target <= 0.70x) ${mark(r <= 0.7)}; kiln/bare ${(k / median(t.bare)).toFixed(2)}x`);
  }
}

// ---- (b) a set with chains ------------------------------------------------------------------
async function partB(c: Ctx, sb: SbuildSetup | string, o: DebianBenchOptions): Promise<void> {
  const cores = availableParallelism();
  const state = join(BENCH_DIR, 'state-b');
  const names = DEBIAN_SET;
  // The chain must show in kiln's own plan.
  const plan = ok(await measure([process.execPath, KILN, 'plan', '--debian', 'bookworm', ...names, '--arch', 'amd64', '--nocheck', '--state', state, '--cache', c.cache, '--json'],
    { label: 'b-plan', outDir: c.out, cwd: REPO, env: c.env }), 'kiln plan');
  const nodes = (JSON.parse(readFileSync(plan.stdoutFile, 'utf8')) as { packages: { id: string; waitsFor: string[] }[] }).packages;
  const waits = new Map(nodes.map((n) => [n.id, n.waitsFor]));
  const chains = nodes.filter((n) => n.waitsFor.length > 0).map((n) => `${n.waitsFor.join('+')} -> ${n.id}`);
  o.log(`(b) ${names.length} sources: ${names.join(' ')}; waits in kiln's plan: ${chains.join(', ') || 'NONE (the set is not a chain!)'}`);
  // -j above the cores only runs more builds when their cpus may be overcommitted.
  const overcommit = Math.max(0, o.jobs - cores);
  o.log(`(b) kiln --cpus 1 -j ${o.jobs} --overcommit-cpus ${overcommit} on ${cores} cores: warm-up (untimed), then timed`);
  await kilnBuild(c, { suite: 'bookworm', arch: 'amd64', names, state, jobs: o.jobs, overcommit, label: 'b-kiln-warm' });
  const sampler = new CpuSampler(500);
  const { m, ev } = await kilnBuild(c, { suite: 'bookworm', arch: 'amd64', names, state, jobs: o.jobs, overcommit, label: 'b-kiln' });
  const samples = sampler.stop();
  const runStart = ev.find((e) => e.type === 'run-started')?.at ?? 0;
  const runEnd = Math.max(...ev.filter((e) => e.type === 'job-finished').map((e) => e.at!));
  const jobs: JobTiming[] = ev.filter((e) => e.type === 'job-finished').map((e) => ({
    id: e.jobId!, startedAt: e.startedAt!, endedAt: e.at!, cpuMs: (e.rusage?.userMs ?? 0) + (e.rusage?.systemMs ?? 0), waitsFor: waits.get(e.jobId!) ?? [],
  }));
  const lb = lowerBound(jobs, cores);
  const makespan = runEnd - runStart;
  const inRun = samples.filter((x) => x.at >= runStart && x.at <= runEnd + 500);
  const busy = busyWhileReady(inRun, jobs, { cores, runStart });
  // busy is the share of all cores: times cores gives CPU time.
  const machineBusyMs = inRun.reduce((a, x) => a + x.busy * x.ms * cores, 0);
  for (const j of [...jobs].sort((a, b) => a.startedAt - b.startedAt)) {
    o.log(`  ${j.id.padEnd(18)} +${s(j.startedAt - runStart).padStart(7)} .. +${s(j.endedAt - runStart).padStart(7)}  build CPU ${s(j.cpuMs)}  [${await phases(state, j.id.split('@')[0]!)}]`);
  }
  const ratio = makespan / lb.boundMs;
  o.log(`(b) kiln makespan ${s(makespan)} (process ${s(m.wallMs)}); bound ${s(lb.boundMs)} = max(critical path ${s(lb.criticalPathMs)} [${lb.criticalPath.join(' -> ')}], build CPU ${s(lb.totalCpuMs)} / ${cores} = ${s(lb.cpuPerCoreMs)})`);
  o.log(`(b) makespan/bound ${ratio.toFixed(2)}x (target <= 1.15x) ${mark(ratio <= 1.15)}; the machine's busy CPU during the run was ${s(machineBusyMs)} / ${cores} = ${s(machineBusyMs / cores)} (all processes, install phases included: kiln's rusage covers only the build step); makespan / that ${(makespan / (machineBusyMs / cores)).toFixed(2)}x`);
  o.log(`(b) work for every core existed ${s(busy.fullDemandMs)} of ${s(makespan)}; cores >= 90% busy in ${(busy.busyShare * 100).toFixed(0)}% of it, mean ${(busy.meanBusy * 100).toFixed(0)}% (target >= 90% of it) ${mark(busy.busyShare >= 0.9)}`);

  if (typeof sb === 'string') return void o.log(`(b) sbuild one after another: not run (${sb})`);
  const placed = await placeDebianSources({ mirror: c.mirror, suite: 'bookworm', names, cacheDir: c.cache, dir: join(BENCH_DIR, 'src') });
  if (o.sbuildSet) {
    // sbuild cannot use a fresh libogg-dev: like a buildd, it takes the archive's (same version).
    let total = 0;
    for (const p of placed) {
      const one = ok(await runSbuild(sb, { dsc: p.dsc, suite: 'bookworm', arch: 'amd64', label: `b-sbuild-${p.name}`, outDir: c.out }), `sbuild ${p.name}`);
      total += one.wallMs;
      o.log(`  sbuild ${p.name.padEnd(10)} ${s(one.wallMs)}${load(one)}`);
    }
    const speedup = total / makespan;
    o.log(`(b) sbuild one after another ${s(total)}; kiln is ${speedup.toFixed(2)}x faster (target >= 1.5x) ${mark(speedup >= 1.5)}`);
  } else {
    o.log('(b) sbuild one after another: skipped (--no-sbuild-set)');
  }
}

// ---- (c) planning the whole suite -------------------------------------------------------------
async function partC(c: Ctx, o: DebianBenchOptions): Promise<void> {
  const state = join(BENCH_DIR, 'state-c');
  const plan = (label: string, args: readonly string[]) => measure([process.execPath, KILN, 'plan', '--debian', 'bookworm', ...args, '--arch', 'amd64', '--state', state, '--cache', c.cache, '--json'], { label, outDir: c.out, cwd: REPO, env: c.env });
  o.log('(c) kiln plan --debian bookworm --all --arch amd64 (indexes warm: one untimed handful plan first)');
  await plan('c-warm', ['hello']);
  const all = await plan('c-all', ['--all']);
  if (all.exitCode !== 0 && all.exitCode !== 1) throw new Error(`kiln plan --all exited ${all.exitCode}:\n${tail(all.stderrFile)}`);
  const j = JSON.parse(readFileSync(all.stdoutFile, 'utf8')) as { counts: Record<string, number>; packages: { name: string; state: string; reason: string | null }[]; timings: Record<string, number> | null; overlapped?: string[] };
  const t = j.timings ?? {};
  // installability: the wall time of the dose-builddebcheck runs whose answer kiln used.
  // kiln starts dose as early as it can and does every step that does not need its answer
  // meanwhile (`overlapped`): those steps' time is inside installability, so the own share
  // (what kiln adds to the wall time) is reported beside all of kiln's own work.
  const dose = t['installability'] ?? 0;
  const own = all.wallMs - dose;
  const during = new Set(j.overlapped ?? []);
  const notKiln = new Set(['installability', 'installability-wait', 'installability-discarded']);
  const stepsSum = Object.entries(t).filter(([k]) => !notKiln.has(k)).reduce((a, [, v]) => a + v, 0);
  const overlappedSum = Object.entries(t).filter(([k]) => during.has(k)).reduce((a, [, v]) => a + v, 0);
  // Steps before dose starts and after its answer is in; the rest of the own share is outside any step.
  const beforeAfter = Object.entries(t).filter(([k]) => !notKiln.has(k) && !during.has(k)).reduce((a, [, v]) => a + v, 0);
  const outside = own - beforeAfter;
  o.log(`(c) --all: ${j.packages.length} sources, ${j.counts['broken'] ?? 0} broken; wall ${s(all.wallMs)}, peak RSS ${all.peakRssKb === undefined ? '-' : `${Math.round(all.peakRssKb / 1024)} MiB`}${load(all)}`);
  o.log(`    steps: ${Object.entries(t).map(([k, v]) => `${k} ${s(v)}${during.has(k) ? ' (during installability)' : ''}`).join(', ')}`);
  o.log(`(c) kiln's own share (wall - installability) ${s(own)} (target <= 2 s) ${mark(own <= 2000)}`);
  o.log(`    kiln's own work in all: ${s(own + overlappedSum)} (own share + ${s(overlappedSum)} of steps run while dose ran); sum of kiln's step times ${s(stepsSum)}; of the own share, ${s(beforeAfter)} in steps before and after dose, ${s(outside)} outside them (start-up, graph, output, exit)`);

  // dose-builddebcheck alone, on the same verified indexes.
  const indexes = createIndexes({ cacheDir: c.cache });
  const release = await indexes.release(c.mirror, 'bookworm');
  const packages = await indexes.packages(release, 'amd64');
  const sources = await indexes.sources(release);
  const d = await measure(['dose-builddebcheck', '--deb-native-arch=amd64', '-e', '-f', packages, sources], { label: 'c-dose', outDir: c.out });
  if (d.exitCode !== 0 && d.exitCode !== 1) throw new Error(`dose-builddebcheck exited ${d.exitCode}:\n${tail(d.stderrFile)}`);
  const doseAll = parseDoseReport(readFileSync(d.stdoutFile, 'utf8'));
  const kilnSet = new Set(j.packages.filter((p) => p.state === 'broken' && (p.reason ?? '').includes('not installable')).map((p) => p.name));
  const otherBroken = j.packages.filter((p) => p.state === 'broken' && !kilnSet.has(p.name)).length;
  // Like for like: kiln plans the current version of each source (never an Extra-Source-Only
  // stanza, an old version kept for Built-Using) and checks a -B build without
  // Build-Depends-Indep and an -A build without Build-Depends-Arch, as the buildds do; plain
  // dose checks every stanza with every field. Differences of those two kinds are explained.
  const sourcesText = readFileSync(sources, 'utf8');
  const stanzaOf = (name: string, version: string): string | undefined => sourcesText.split('\n\n').find((st) => st.startsWith(`Package: ${name}\n`) && st.includes(`\nVersion: ${version}\n`));
  const explained: string[] = [];
  const doseSet = new Set<string>();
  for (const u of doseAll) {
    const st = stanzaOf(u.source, u.version) ?? '';
    if (/\nExtra-Source-Only: yes/.test(st)) { explained.push(`${u.source} ${u.version} (Extra-Source-Only, not built)`); continue; }
    if (kilnSet.has(u.source)) { doseSet.add(u.source); continue; }
    const tmp = join(c.out, `c-dose-${u.source}.sources`);
    writeFileSync(tmp, `${st}\n`);
    const planned = j.packages.find((p) => p.name === u.source) as { id?: string } | undefined;
    const flag = planned === undefined ? undefined : planned.id?.endsWith('@all') === true ? '--deb-drop-b-d-arch' : '--deb-drop-b-d-indep';
    const again = flag === undefined ? 1 : spawnSync('dose-builddebcheck', ['--deb-native-arch=amd64', flag, '-e', '-f', packages, tmp]).status;
    if (again === 0) explained.push(`${u.source} ${u.version} (needs only ${flag === '--deb-drop-b-d-arch' ? 'Build-Depends-Arch, which its arch-all build here does not' : 'Build-Depends-Indep, which its -B build does not'})`);
    else doseSet.add(u.source);
  }
  const onlyKiln = [...kilnSet].filter((x) => !doseSet.has(x));
  const onlyDose = [...doseSet].filter((x) => !kilnSet.has(x));
  o.log(`(c) dose-builddebcheck alone: ${s(d.wallMs)}, peak RSS ${d.peakRssKb === undefined ? '-' : `${Math.round(d.peakRssKb / 1024)} MiB`}, ${doseAll.length} stanzas not installable, ${doseSet.size} like for like; kiln: ${kilnSet.size} (+${otherBroken} broken for other reasons)`);
  o.log(`(c) same uninstallable set: ${mark(onlyKiln.length === 0 && onlyDose.length === 0)}${onlyKiln.length > 0 ? `; only kiln: ${onlyKiln.join(' ')}` : ''}${onlyDose.length > 0 ? `; only dose: ${onlyDose.join(' ')}` : ''}`);
  o.log(`    uninstallable: ${[...kilnSet].sort().join(' ')}`);
  if (explained.length > 0) o.log(`    plain dose also lists (explained): ${explained.join('; ')}`);

  const few = await plan('c-few', ['hello', 'libogg', 'libvorbis', 'pv', 'tree']);
  ok(few, 'kiln plan (handful)');
  const ft = (JSON.parse(readFileSync(few.stdoutFile, 'utf8')) as { timings: Record<string, number> | null }).timings ?? {};
  o.log(`(c) kiln plan of 5 sources against the full suite: ${s(few.wallMs)} (target <= 2 s) ${mark(few.wallMs <= 2000)}${load(few)}`);
  o.log(`    steps: ${Object.entries(ft).map(([k, v]) => `${k} ${s(v)}`).join(', ')}`);
}

// ---- (d) riscv64 under QEMU -------------------------------------------------------------------
async function partD(c: Ctx, o: DebianBenchOptions): Promise<void> {
  const suite = 'trixie';
  const name = process.env['KILN_BENCH_RISCV_PACKAGE'] ?? 'sl'; // trixie's hello 2.10-5 debian.tar.xz answered 404 here
  const env = await sharedEnv('trixie-riscv64', suite, 'riscv64');
  const root = envRoot(env.KILN_ENVS, 'trixie-riscv64')!;
  const [src] = await placeDebianSources({ mirror: c.mirror, suite, names: [name], cacheDir: c.cache, dir: join(BENCH_DIR, 'src-trixie') });
  const state = join(BENCH_DIR, 'state-d');
  o.log(`(d) ${name} ${src!.version} for ${suite} riscv64 under QEMU: kiln then bare, each after a warm-up that fills its package cache`);
  await kilnBuild(c, { suite, arch: 'riscv64', names: [name], state, jobs: 1, label: 'd-kiln-warm' });
  // Like for like, both install the build dependencies (from a warm package cache): the
  // deps layers kiln keeps (which would let it skip the install) are removed first. The
  // other parts' warm-ups make theirs again.
  await rm(join(c.cache, 'deps-layers'), { recursive: true, force: true });
  const k = (await kilnBuild(c, { suite, arch: 'riscv64', names: [name], state, jobs: 1, label: 'd-kiln' })).m;
  const kLayer = (await kilnBuild(c, { suite, arch: 'riscv64', names: [name], state, jobs: 1, label: 'd-kiln-layer' })).m;
  const bare = (label: string) => runBare({ envRoot: root, dsc: src!.dsc, aptDir: join(BENCH_DIR, 'bare-apt-riscv64'), mirror: c.mirror, suite, label, outDir: c.out });
  ok(await bare('d-bare-warm'), 'bare flow (riscv64, warm-up)');
  const b = ok(await bare('d-bare'), 'bare flow (riscv64)');
  const added = k.wallMs / b.wallMs - 1;
  o.log(`(d) both installing the build dependencies: kiln ${s(k.wallMs)}${load(k)}, bare ${s(b.wallMs)}${load(b)}: kiln adds ${(added * 100).toFixed(1)}% (target <= 5%) ${mark(added <= 0.05)}`);
  o.log(`    kiln again with its deps layer kept (installs nothing): ${s(kLayer.wallMs)}${load(kLayer)}, ${((kLayer.wallMs / b.wallMs - 1) * 100).toFixed(1)}% against the bare flow`);
}

export async function benchDebian(o: DebianBenchOptions): Promise<void> {
  if (process.getuid?.() !== 0) return void o.log('debian bench: needs root (chroot sandbox, sbuild user, bare chroot)');
  const mirror = await hostDebianMirror();
  if (mirror === undefined) return void o.log('debian bench: no Debian mirror in the host apt sources');
  const out = join(BENCH_DIR, 'out');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const envs = await sharedEnv();
  const c: Ctx = { mirror, cache: join(BENCH_DIR, 'cache'), out, env: { ...process.env, ...envs, CI: '1' }, log: o.log };
  o.log(`kiln Debian bench: ${availableParallelism()} cores, parts ${o.parts.join(',')}, envs ${envs.KILN_ENVS}, caches ${BENCH_DIR}`);
  const sb = o.parts.some((p) => p === 'a' || p === 'b') ? await setupSbuild({ dir: join(BENCH_DIR, 'sbuild'), suite: 'bookworm', arch: 'amd64', mirror, log: o.log }) : 'not needed';
  const parts: Record<string, () => Promise<void>> = { a: () => partA(c, sb, o), b: () => partB(c, sb, o), c: () => partC(c, o), d: () => partD(c, o) };
  for (const p of o.parts) {
    const started = Date.now();
    try {
      await parts[p]!();
    } catch (e) {
      o.log(`(${p}) could not be measured: ${(e as Error).message}`);
    }
    o.log(`(${p}) took ${s(Date.now() - started)} in all\n`);
  }
  o.log(`logs and outputs: ${out}`);
}

export function debianParts(text: string | undefined): string[] {
  const parts = (text ?? 'a,b,c').split(',').map((p) => p.trim()).filter((p) => p !== '');
  const bad = parts.filter((p) => !['a', 'b', 'c', 'd'].includes(p));
  if (bad.length > 0) throw new Error(`--only: the debian suite has parts a, b, c, d; got ${bad.join(', ')}`);
  return parts;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string', default: '2' },
      jobs: { type: 'string' },
      'no-sbuild-set': { type: 'boolean', default: false },
    },
  });
  await benchDebian({
    parts: debianParts(values.only),
    runs: Number(values.runs),
    jobs: values.jobs === undefined ? availableParallelism() + 1 : Number(values.jobs),
    sbuildSet: !values['no-sbuild-set'],
    log: (l) => process.stdout.write(`${l}\n`),
  });
}

export type { PlacedSource };
