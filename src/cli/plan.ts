// kiln plan [TARGET...]: what a build would do, and why, without building.

import { autoBinnmuApplies, binnmusUpToDate, binnmuVersionOf, chooseBinnmu, withBinnmu } from '../debian/auto-binnmu.ts';
import { Option, type Command } from 'commander';
import { SANDBOX_CHOICES, type SandboxChoice } from '../sandbox/choose-backend.ts';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { debianOptionsGiven, debianRequestOf } from '../run/debian-plan.ts';
import { formatMs, parseCount, parsePositive } from './options.ts';
import { KilnError } from '../errors.ts';
import { mostAtOnce } from '../schedule/pick-next.ts';
import { boostedIds, checkBoostFlag, collectBoost, estimateOf } from '../schedule/priority.ts';
import { criticalPath, lowerBound, simulate, type ForecastJob } from '../schedule/forecast.ts';
import { hostArch, machineCapacity } from '../run/host-env.ts';
import { durationModel } from '../schedule/arch-estimate.ts';
import { emulatedBy } from '../run/run-envs.ts';
import { buildModeMark, buildModesOf } from '../run/build-mode.ts';
import type { Plan } from '../plan/plan.ts';
import type { Records } from '../records/records.ts';
import { causeForTerminal } from '../publish/report-diagnostics.ts';
import { describeReason } from '../plan/reason.ts';
import { planCounts } from '../plan/plan.ts';
import { openRecords } from '../records/records.ts';
import { assertTreeHasPackages, preparePlan } from '../run/prepare-plan.ts';
import type { CliContext } from './main.ts';
import type { OptionSetting } from '../plan/options.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { collectOption, profilesOf, addDebianOptions, debianFrom, type DebianOptionsCli, addStateOptions, layoutFrom, collectArchList, type StateOptions } from './options.ts';

interface PlanOpts extends StateOptions, DebianOptionsCli {
  tree: string;
  arch?: string[];
  force?: string[];
  json?: boolean;
  env?: string;
  sandbox?: SandboxChoice;
  forecast?: true | number[];
  overcommitCpus?: number;
  boost?: string[];
  option?: OptionSetting[];
}

export function registerPlan(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('plan')
    .description('print the plan: every package, its state (to-build, up-to-date, broken) and why')
    .argument('[targets...]', 'package names or globs; default: every package of the tree')
    .option('--tree <dir>', 'the recipe tree (may hold a debian.toml)', '.')
    .option('--arch <list>', 'target architectures, comma-separated; repeated, they add up', collectArchList)
    // One glob per --force (repeat it): a variadic option would swallow the targets after it.
    .option('--force <glob>', 'plan these packages as forced rebuilds (one name or glob each; repeat it)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--option <setting>', 'turn a recipe option on or off: NAME=on|off for every package that has it, PKG:NAME=on|off for one (repeatable; over kiln.toml [options])', collectOption)
    .option('--env <name>', 'plan for this env (may hold {arch}); default: kiln.toml env')
    .addOption(new Option('--sandbox <kind>', 'auto, host, chroot, rootless (default: kiln.toml sandbox, else auto)').choices(SANDBOX_CHOICES))
    .option('--json', 'print the plan as JSON')
    .option('--forecast [jobs]', 'after the plan: how long building it would take with --jobs N for each N given (comma-separated; default: the cores, 2x and 4x, no more than the packages to build), from the durations learned in --state', parseForecast)
    .option('--overcommit-cpus <n>', 'for --forecast: as kiln build --overcommit-cpus', parseCount('--overcommit-cpus'))
    .option('--boost <globs>', 'for --forecast: as kiln build --boost (added to kiln.toml priority-boost)', collectBoost);
  addDebianOptions(cmd, { all: true });
  addStateOptions(cmd);
  cmd.action(async (targets: string[], opts: PlanOpts, command: Command) => {
    const t0 = performance.now();
    // Debian-only options with no --debian/--dsc are for the tree's debian.toml, or refused.
    const hasToml = existsSync(join(opts.tree, DEBIAN_FILE));
    const debian = debianRequestOf(debianFrom(opts, targets, command.getOptionValueSource('tree') === 'cli'), debianOptionsGiven(command, hasToml), hasToml, () => debianFrom({ ...opts, debian: '' }, [], true)!);
    const state = layoutFrom(opts);
    // Before the state directory is made: an empty tree must leave nothing behind.
    assertTreeHasPackages(opts.tree, debian);
    // As kiln build says it: DEB_BUILD_OPTIONS in the caller's environment plans nothing.
    const callerNote = debian === undefined && !hasToml ? undefined : (await import('./build.ts')).callerOptionsNote(process.env);
    if (callerNote !== undefined) ctx.stderr.write(`kiln: ${callerNote}\n`);
    mkdirSync(state.root, { recursive: true });
    using records = openRecords(state.root);
    const p = await preparePlan(
      {
        treeDir: opts.tree, stateDir: state.root, cacheDir: state.cache, sandbox: opts.sandbox, env: opts.env, lease: false,
        targets: debian === undefined || debian.optionsOnly === true ? targets : [], archs: opts.arch, force: opts.force ?? [], profiles: profilesOf(opts.profiles),
        ...(opts.option === undefined ? {} : { options: opts.option }),
        ...(debian === undefined ? {} : { debian }),
        note: (t) => ctx.stderr.write(`kiln: ${t}\n`),
      },
      records,
    );
    await p.envs.release();
    // What the build would say about where it runs (--sandbox host with an env, a foreign arch).
    for (const text of p.envs.note?.split('\n') ?? []) ctx.stderr.write(`kiln: ${text}\n`);
    const counts = planCounts(p.plan);
    if (opts.forecast !== undefined) checkBoostFlag(opts.boost, p.plan.nodes);
    const boost = [...(p.config.priorityBoost ?? []), ...(opts.boost ?? [])];
    const emulated = emulatedBy(p.envs, new Set(p.plan.nodes.filter((n) => n.spec?.debian !== undefined).map((n) => n.arch)), hostArch());
    // How each job for a foreign arch would build (cross, under QEMU, by its recipe's script); a native one is absent.
    const modes = buildModesOf(p.plan.nodes, { envs: p.envs, hostArch: hostArch() });
    // --binnmu auto: the version each package to build would get (auto-binnmu.ts); a package
    // whose dependencies rebuild gets its final key then, so its number is told as of now.
    const suiteName = p.scan.debian?.suite.suite;
    const published = suiteName === undefined || !p.plan.nodes.some((n) => n.spec?.debian?.options.autoBinnmu === true) ? undefined
      : await (await import('../run/binnmu-numbers.ts')).publishedBinaries({ repoDir: undefined, stateRoot: state.root }, suiteName);
    // A binNMU up to date: its artifact says which one it is.
    const upToDate = await binnmusUpToDate(p.plan.nodes.flatMap((n) => (n.state !== 'up-to-date' || n.spec?.debian === undefined ? [] : [{ id: n.id, options: n.spec.debian.options, key: n.key }])), p.artifacts);
    const binnmuOf = (n: (typeof p.plan.nodes)[number]): string | undefined => {
      if (n.state === 'up-to-date') return upToDate.get(n.id);
      if (n.state !== 'to-build' || n.spec === undefined || published === undefined || !autoBinnmuApplies({ arch: n.arch, spec: n.spec })) return undefined;
      const job = { arch: n.arch, spec: n.spec };
      const chosen = chooseBinnmu(job, n.key ?? '', { reserved: records.binnmusOf(n.spec.name, n.spec.version), published: published.get(n.spec.debian!.source.package) ?? [] });
      return binnmuVersionOf(withBinnmu(job, chosen).spec, n.arch);
    };
    const forecast = opts.forecast === undefined ? undefined : forecastOf(p.plan, records, opts.forecast === true ? undefined : opts.forecast, opts.overcommitCpus, boost, emulated);
    if (opts.json) {
      // An invalid recipe's problems as data (`reason` holds them as text, one per line).
      const problems = new Map(p.invalid.map((b) => [b.name, b.diagnostics.map((d) => ({ file: d.file, key: d.key ?? null, message: d.message }))]));
      const invalidCategory = new Map(p.invalid.map((b) => [b.name, b.category]));
      const packages = p.plan.nodes.map((n) => ({
        id: n.id,
        name: n.name,
        // The category folder of the tree the package is in (docs/recipes.md), when it is in one.
        ...withCategory(n.spec?.category ?? invalidCategory.get(n.name)),
        version: n.version,
        arch: n.arch,
        // Not native: cross (kiln cross-builds it), emulated (QEMU) or recipe-cross (src/run/build-mode.ts).
        ...(modes.has(n.id) ? { buildMode: modes.get(n.id) } : {}),
        state: n.state,
        why: n.why ?? null,
        reason: n.broken ?? null,
        ...(n.ignored ? { ignored: true } : {}),
        // Own depends that do not resolve (it builds; what build-depends on it is broken).
        ...(n.unmetDepends === undefined ? {} : { unmetDepends: n.unmetDepends }),
        // The recipe's options (docs/recipes.md), each on or off in this plan.
        ...(n.spec?.optionValues === undefined ? {} : { options: optionsJson(n.spec) }),
        // A flavour's package: which flavour of which recipe's package (docs/recipes.md).
        ...(n.spec?.flavour === undefined ? {} : { flavour: { id: n.spec.flavour.id, of: n.spec.flavour.of } }),
        ...binaryVersionField(binnmuOf(n)),
        // A Debian source: the archive component it was found in (the first of --components that has it).
        ...(n.spec?.debian?.component === undefined ? {} : { component: n.spec.debian.component }),
        waitsFor: n.waitsFor,
        key: n.key ?? null,
        ...(n.spec === undefined && problems.has(n.name) ? { diagnostics: problems.get(n.name) } : {}),
      }));
      // timings: ms per step of the Debian scan (fetch-indexes, installability, …), for the
      // bench; overlapped: the steps that ran while installability (dose) did.
      const timings = p.scan.debian?.timings ?? null;
      const overlapped = p.scan.debian?.overlapped ?? [];
      const cyclesBroken = p.scan.debian?.cyclesBroken ?? [];
      const suite = p.scan.debian?.suite;
      const debian = suite === undefined ? null : { suite: suite.suite, mirror: suite.mirror, components: suite.components ?? ['main'], extraRepositories: suite.extras ?? [] };
      ctx.stdout.write(`${JSON.stringify({ tree: p.treeDir, archs: p.archs, counts, packages, timings, overlapped, cyclesBroken, debian, ...(forecast === undefined ? {} : { forecast }) }, null, 2)}\n`);
    } else {
      const out: string[] = [];
      out.push(
        `kiln plan: ${p.plan.nodes.length} package(s) for ${p.archs.join(', ')}: ${counts['to-build']} to build, ` +
          `${counts['up-to-date']} up to date, ${counts.broken} broken (planned in ${formatMs(performance.now() - t0)})`,
      );
      // Where a Debian run's build dependencies come from: the suite, and any extra repository.
      const suite = p.scan.debian?.suite;
      if (suite !== undefined) {
        const components = suite.components ?? ['main'];
        out.push(`  Debian ${suite.suite}${components.length === 1 && components[0] === 'main' ? '' : ` ${components.join(', ')}`} from ${suite.mirror}`);
        // --components: which component each source was found in (the first that has it).
        if (components.length > 1) {
          const from = new Map<string, Set<string>>();
          for (const n of p.plan.nodes) {
            const c = n.spec?.debian?.component;
            if (c !== undefined) from.set(c, (from.get(c) ?? new Set()).add(n.name));
          }
          for (const c of components) {
            const names = [...(from.get(c) ?? [])];
            if (names.length > 0) out.push(`  sources from ${c}: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ` … and ${names.length - 20} more` : ''}`);
          }
        }
        for (const x of suite.extras ?? []) {
          const added = Object.entries(x.added).map(([a, n]) => `${n} for ${a}`).join(', ');
          out.push(`  with the extra repository ${x.uri} ${x.suite} ${x.components.join(' ')}${x.notAutomatic ? ' (NotAutomatic)' : ''}: ${added || 'nothing'} merged into the index`);
        }
        // --extra-package: the local .debs offered to the builds, preferred over the suite's of the same name.
        const extraDebs = suite.extraPackages ?? [];
        if (extraDebs.length > 0) {
          const named = extraDebs.slice(0, 10).map((x) => `${x.package} ${x.version} [${x.architecture}]`).join(', ');
          out.push(`  with ${extraDebs.length} extra package(s), preferred over the suite's of the same name: ${named}${extraDebs.length > 10 ? ` … and ${extraDebs.length - 10} more` : ''}`);
        }
      }
      // The job, with how it builds when not natively: `hello@arm64 (cross)`, `zlib@riscv64 (QEMU)`.
      const label = (n: (typeof p.plan.nodes)[number]): string => {
        const mark = buildModeMark(modes.get(n.id));
        return mark === undefined ? n.id : `${n.id} (${mark})`;
      };
      const width = Math.min(40, Math.max(8, ...p.plan.nodes.map((n) => label(n).length)));
      for (const n of p.plan.nodes) {
        let detail = '';
        if (n.state === 'to-build') {
          const waits = n.waitsFor.filter((w) => p.plan.byId.get(w)?.state === 'to-build');
          const binnmu = binnmuOf(n);
          detail = `${describeReason(n.why!)}${waits.length > 0 ? `; after ${waits.join(', ')}` : ''}${binnmu === undefined ? '' : `; as the binNMU ${binnmu}`}`;
        } else if (n.state === 'broken') detail = causeForTerminal(n.broken ?? '', '      ');
        else if (binnmuOf(n) !== undefined) detail = `the binNMU ${binnmuOf(n)!}`;
        const values = n.spec?.optionValues;
        if (values !== undefined && n.state !== 'broken') detail += `${detail === '' ? '' : '; '}options: ${Object.keys(values).map((k) => `${k} ${values[k] ? 'on' : 'off'}`).join(', ')}`;
        out.push(`  ${n.state.padEnd(10)}  ${label(n).padEnd(width)}  ${n.version.padEnd(10)}  ${detail}`.trimEnd());
      }
      const broke = p.scan.debian?.cyclesBroken ?? [];
      if (broke.length > 0) {
        out.push(`kiln plan: ${broke.length} wait(s) dropped to break build-dependency cycles; these sources use the archive's binary instead:`);
        for (const b of broke.slice(0, 20)) out.push(`  ${b}`);
        if (broke.length > 20) out.push(`  … and ${broke.length - 20} more (kiln plan --json lists them all)`);
      }
      if (forecast !== undefined) out.push(...forecastLines(forecast, state.root, p.archs.length > 1 ? (id) => id : (id) => p.plan.byId.get(id)?.name ?? id));
      ctx.stdout.write(`${out.join('\n')}\n`);
    }
    // Packages a recipe's `ignore` breaks (and what needs only them) do not fail the plan.
    ctx.exitCode = p.plan.nodes.some((n) => n.state === 'broken' && !n.ignored) ? 1 : 0;
  });
}

/** `binaryVersion` of a plan's package under --binnmu auto, when it would be a binNMU. */
function binaryVersionField(binaryVersion: string | undefined): { binaryVersion?: string } {
  return binaryVersion === undefined ? {} : { binaryVersion };
}

/** --forecast's value: --jobs values, comma-separated. */
function parseForecast(text: string): number[] {
  if (!/^[\d,]+$/.test(text)) {
    throw new KilnError('usage', `--forecast: expected --jobs values such as 4,8,16, got "${text}"`, {
      hint: 'give whole numbers of at least 1, comma-separated, or no value for the cores, 2x and 4x that; package names go before --forecast (or write --forecast=4,8)',
    });
  }
  return [...new Set(text.split(',').map(parsePositive('--forecast')))];
}

interface PlanForecast {
  readonly toBuild: number;
  /** How many of them were never built here (their duration is the estimate). */
  readonly estimated: number;
  readonly estimateMs: number;
  /** The estimate of each arch with packages never built on any arch: how many, at how much each (the median of that arch's learned ones). */
  readonly estimateByArch: readonly { readonly arch: string; readonly jobs: number; readonly ms: number }[];
  readonly estimateFrom: 'median' | 'default';
  /** Of `estimated`, those told from their build on another arch (arch-estimate.ts), with each arch pair's factor. */
  readonly fromOtherArch: number;
  readonly archFactors: { from: string; to: string; factor: number; pairs: number }[];
  readonly runs: { jobs: number; makespanMs: number; atOnce: number; limitedBy?: 'cpus' | 'memory' }[];
  readonly criticalPath: { ms: number; packages: { id: string; durationMs: number; estimated: boolean; from?: string }[] };
  readonly lowerBoundMs: number;
  readonly lowerBoundBy: 'critical path' | 'cpus';
}

/** The to-build jobs replayed with the durations the build would use (records of this state dir). */
function forecastOf(plan: Plan, records: Records, given: number[] | undefined, overcommitCpus: number | undefined, boost: readonly string[], emulated: (arch: string) => boolean): PlanForecast {
  const toBuild = plan.nodes.filter((n) => n.state === 'to-build');
  const boosted = boostedIds(toBuild, boost);
  const learned = toBuild.length > 0 ? records.learnedDurations() : new Map<string, number>();
  const estimate = estimateOf(learned.values());
  // Never built on its arch: its build on another arch, scaled (QEMU's slowdown; arch-estimate.ts).
  const model = durationModel(learned, emulated);
  const building = new Set(toBuild.map((n) => n.id));
  const jobs: ForecastJob[] = toBuild.map((n) => ({
    id: n.id,
    waitsFor: n.waitsFor.filter((w) => building.has(w)),
    cpus: n.spec!.build.cpus,
    memoryBytes: n.spec!.build.memoryBytes,
    durationMs: model.durationOf(n.id),
    learned: learned.has(n.id),
  }));
  const sources = new Map(jobs.filter((j) => !j.learned).map((j) => [j.id, model.sourceOf(j.id)]));
  const archFactors = new Map<string, { from: string; to: string; factor: number; pairs: number }>();
  for (const [id, src] of sources) {
    if (src.kind !== 'other-arch') continue;
    const to = id.slice(id.lastIndexOf('@') + 1);
    archFactors.set(`${src.from} ${to}`, { from: src.from, to, factor: src.factor, pairs: src.pairs });
  }
  const fromOf = (id: string): string | undefined => {
    const src = sources.get(id);
    return src?.kind === 'other-arch' ? src.from : undefined;
  };
  // Default: the cores, 2x and 4x, no more than there are jobs (more slots change nothing).
  const cores = availableParallelism();
  const ns = given ?? [...new Set([cores, 2 * cores, 4 * cores].map((n) => Math.max(1, Math.min(n, jobs.length))))];
  const runs = jobs.length === 0 ? [] : ns.map((n) => {
    const capacity = machineCapacity(n, overcommitCpus);
    const most = mostAtOnce(jobs, capacity);
    return { jobs: n, makespanMs: simulate(jobs, capacity, boosted).makespanMs, atOnce: most.jobs, ...(most.by === 'slots' ? {} : { limitedBy: most.by }) };
  });
  const path = criticalPath(jobs);
  const bound = jobs.length === 0 ? { ms: 0, by: 'critical path' as const } : lowerBound(jobs, machineCapacity(1, overcommitCpus), path);
  return {
    toBuild: jobs.length,
    estimated: jobs.filter((j) => !j.learned).length,
    // What a package never built on any arch is estimated at (the median of its arch's; one arch's when they differ).
    estimateMs: jobs.find((j) => sources.get(j.id)?.kind === 'estimate')?.durationMs ?? estimate,
    estimateByArch: estimatesByArch(jobs.filter((j) => sources.get(j.id)?.kind === 'estimate')),
    estimateFrom: learned.size > 0 ? 'median' : 'default',
    fromOtherArch: [...sources.values()].filter((src) => src.kind === 'other-arch').length,
    archFactors: [...archFactors.values()],
    runs,
    criticalPath: { ms: path.ms, packages: path.jobs.map((j) => ({ id: j.id, durationMs: j.durationMs, estimated: !j.learned, ...(fromOf(j.id) === undefined ? {} : { from: fromOf(j.id) }) })) },
    lowerBoundMs: bound.ms,
    lowerBoundBy: bound.by,
  };
}

/** Jobs estimated by their arch's median, grouped by arch (pure). */
function estimatesByArch(jobs: readonly ForecastJob[]): { arch: string; jobs: number; ms: number }[] {
  const by = new Map<string, { arch: string; jobs: number; ms: number }>();
  for (const j of jobs) {
    const arch = j.id.slice(j.id.lastIndexOf('@') + 1);
    const e = by.get(arch);
    if (e === undefined) by.set(arch, { arch, jobs: 1, ms: j.durationMs });
    else e.jobs += 1;
  }
  return [...by.values()].sort((a, b) => a.arch.localeCompare(b.arch));
}

export function forecastLines(f: PlanForecast, stateDir: string, label: (id: string) => string): string[] {
  if (f.toBuild === 0) return ['kiln plan --forecast: nothing to build'];
  const out = [`kiln plan --forecast: ${f.toBuild} to build, with the durations learned in ${stateDir}:`];
  const width = Math.max(...f.runs.map((r) => String(r.jobs).length));
  for (const r of f.runs) {
    const why = r.limitedBy === undefined ? '' : `  (at most ${r.atOnce} at once: the ${r.limitedBy === 'cpus' ? 'cpus' : 'memory'} the recipes reserve)`;
    out.push(`  --jobs ${String(r.jobs).padEnd(width)}  ${formatMs(r.makespanMs)}${why}`);
  }
  const step = (p: PlanForecast['criticalPath']['packages'][number]): string => `${label(p.id)} ${formatMs(p.durationMs)}${p.estimated ? (p.from === undefined ? ' (estimated)' : ` (estimated from ${p.from})`) : ''}`;
  const path = f.criticalPath.packages;
  const shown = path.length <= 12 ? path.map(step) : [...path.slice(0, 6).map(step), `… ${path.length - 11} more …`, ...path.slice(-5).map(step)];
  out.push(`  critical path ${formatMs(f.criticalPath.ms)}: ${shown.join(' → ')}`);
  out.push(`  no number of builders does it in less than ${formatMs(f.lowerBoundMs)} (${f.lowerBoundBy === 'cpus' ? 'the cpus the recipes reserve, over the cpus here' : 'the critical path'})`);
  if (f.estimateFrom === 'default') {
    out.push(`  none of them was ever built here: each is estimated at ${formatMs(f.estimateMs)}, kiln's default, so the forecast is only as good as that estimate (use the --state the builds use)`);
  } else if (f.estimated > 0) {
    const median = f.estimated - f.fromOtherArch;
    if (median > 0) {
      // Each arch has its own median: one figure only when every such package has the same.
      const byArch = f.estimateByArch;
      const each = byArch.length <= 1 || byArch.every((a) => a.ms === byArch[0]!.ms)
        ? `${formatMs(byArch[0]?.ms ?? f.estimateMs)} each`
        : `${byArch.map((a) => `${formatMs(a.ms)} each for ${a.arch} (${a.jobs})`).join(', ')}`;
      out.push(`  ${median} of ${f.toBuild} never built here: estimated at ${each} (the median of the learned ones${byArch.length > 1 ? ' of each arch' : ''})`);
    }
    if (f.fromOtherArch > 0) {
      const factors = f.archFactors.map((a) => `${a.to} = ${a.from} × ${Number(a.factor.toPrecision(3))} (${a.pairs > 0 ? `the median of ${a.pairs} package${a.pairs === 1 ? '' : 's'} built on both` : `no package was built on both yet: ${a.factor === 1 ? 'neither is emulated here' : "kiln's default for QEMU emulation"}`})`);
      out.push(`  ${f.fromOtherArch} of ${f.toBuild} never built on their arch: estimated from their build on another: ${factors.join('; ')}`);
    }
  }
  return out;
}

/** A package's options for plan --json: each with its value in this plan and its recipe's default. */
function optionsJson(spec: PackageSpec): { name: string; on: boolean; default: boolean; summary: string | null }[] {
  return (spec.options ?? []).map((o) => ({ name: o.name, on: spec.optionValues?.[o.name] === true, default: o.default, summary: o.summary ?? null }));
}

function withCategory(category: string | undefined): { category?: string } {
  return category === undefined ? {} : { category };
}
