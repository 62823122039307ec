// kiln cache du | gc | verify: what the caches hold, removing what is no longer used, and
// checking that what they hold is whole.

import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheUsage } from '../cache/du.ts';
import { describeHeld, gcCache } from '../cache/gc.ts';
import { parseDuration } from '../lib/duration.ts';
import { KilnError } from '../errors.ts';
import { openRecords } from '../records/records.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, humanBytes, layoutFrom, parseCount, parseSizeOption, refuseRepeats, type StateOptions } from './options.ts';

export function registerCache(program: Command, ctx: CliContext): void {
  const cache = program.command('cache').description('inspect and clean the caches: downloads, artifacts, git mirrors, Debian build-dependency layers and indexes, compiler caches (ccache)');
  const du = cache.command('du').description('sizes of the caches by kind').option('--json', 'print as JSON');
  addStateOptions(du);
  du.action(async (opts: StateOptions & { json?: boolean }) => {
    const state = layoutFrom(opts);
    assertCacheGiven(opts, state.cache);
    const u = await cacheUsage(state.cache);
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify({ cache: state.cache, ...u }, null, 2)}\n`);
      return;
    }
    ctx.stdout.write(`cache ${state.cache}\n`);
    for (const [kind, v] of Object.entries(u) as [string, { count: number; bytes: number }][]) {
      ctx.stdout.write(`  ${kind.padEnd(10)} ${String(v.count).padStart(7)} entries  ${humanBytes(v.bytes).padStart(10)}\n`);
    }
  });

  const gc = cache
    .command('gc')
    .description('remove cached downloads, artifacts, git mirrors, Debian layers and indexes not used recently (and not used by the last N runs); ccache: ccache --evict-older-than')
    .option('--older-than <duration>', 'remove what was last used longer ago than this, e.g. 30d, 12h', '30d')
    .option('--keep-last-runs <n>', 'always keep the artifacts of the last N runs', parseCount('--keep-last-runs'))
    .option('--max-size <size>', 'then remove the least recently used entries until the cache holds at most this, e.g. 50G', parseSizeOption('--max-size'))
    .option('--dry-run', 'only list what would be removed');
  addStateOptions(gc);
  refuseRepeats(gc, '--older-than');
  gc.action(async (opts: StateOptions & { olderThan: string; keepLastRuns?: number; maxSize?: number; dryRun?: boolean }) => {
    const state = layoutFrom(opts);
    let olderThanMs: number;
    try {
      olderThanMs = parseDuration(opts.olderThan);
    } catch (e) {
      throw new KilnError('usage', `--older-than: ${(e as Error).message}`, { hint: 'a number and a unit: ms, s, m, h, d or w, e.g. --older-than 30d or 12h' });
    }
    let keep = new Set<string>();
    if (opts.keepLastRuns !== undefined) {
      const n = opts.keepLastRuns;
      if (existsSync(join(state.root, 'kiln.db'))) {
        mkdirSync(state.root, { recursive: true });
        using records = openRecords(state.root);
        keep = records.artifactKeysOfLastRuns(n);
      }
    }
    const r = await gcCache(state.cache, { olderThanMs, keep, dryRun: opts.dryRun === true, ...(opts.maxSize === undefined ? {} : { maxBytes: opts.maxSize }) });
    // The state directory's side: old runs' logs and reports, and a daemon's unused bundles.
    const cutoff = Date.now() - olderThanMs;
    const stateRemoved: { kind: string; path: string; bytes: number }[] = [];
    if (existsSync(join(state.root, 'kiln.db'))) {
      const { gcRuns, gcBundles } = await import('../run/gc-runs.ts');
      {
        using records = openRecords(state.root);
        // A run whose kiln is gone is over: its logs and report are old runs' like any other.
        records.markInterruptedRuns();
        stateRemoved.push(...(await gcRuns(state, records, { cutoff, keepLastRuns: opts.keepLastRuns ?? 0, dryRun: opts.dryRun === true })));
      }
      stateRemoved.push(...(await gcBundles(state, { cutoff, dryRun: opts.dryRun === true })));
    }
    // Env versions no build uses any more (one a killed build held when an update came),
    // whatever their age: what the env's next build or update would remove.
    if (opts.dryRun !== true) {
      const { createEnvStore } = await import('../envs/env-store.ts');
      const envs = createEnvStore({ stateDir: state.root });
      const { envsDirOf } = await import('../envs/layout.ts');
      const sizeOf = (name: string, v: string): number => {
        try {
          return Number((JSON.parse(readFileSync(join(envsDirOf(state.root), name, 'versions', v, 'version.json'), 'utf8')) as { sizeBytes?: unknown }).sizeBytes) || 0;
        } catch {
          return 0;
        }
      };
      for (const e of await envs.list({ onDamaged: () => undefined }).catch(() => [])) {
        const sizes = new Map(e.versions.map((v) => [v, sizeOf(e.name, v)]));
        // Envs this user may not change (a shared $KILN_ENVS): said, and the rest of gc goes on.
        const removed = await envs.gcVersions(e.name).catch((err: unknown) => {
          ctx.stderr.write(`kiln: env ${e.name}: its unused versions were not looked at: ${err instanceof Error ? err.message : String(err)}\n`);
          return [] as string[];
        });
        for (const v of removed) stateRemoved.push({ kind: 'env version', path: `${e.name} ${v}`, bytes: sizes.get(v) ?? 0 });
      }
    }
    const all = [...r.removed, ...stateRemoved];
    for (const x of all) ctx.stdout.write(`${opts.dryRun ? 'would remove' : 'removed'} ${x.kind} ${x.path} (${humanBytes(x.bytes)})\n`);
    const freed = r.freedBytes + stateRemoved.reduce((n, x) => n + x.bytes, 0);
    ctx.stdout.write(`${opts.dryRun ? 'would free' : 'freed'} ${humanBytes(freed)} in ${all.length} ${all.length === 1 ? 'entry' : 'entries'}\n`);
    if (opts.maxSize !== undefined && r.sizeAfter !== undefined) {
      ctx.stdout.write(r.sizeAfter <= opts.maxSize
        ? `the cache ${opts.dryRun ? 'would hold' : 'holds'} ${humanBytes(r.sizeAfter)} (--max-size ${humanBytes(opts.maxSize)})\n`
        : `the cache ${opts.dryRun ? 'would still hold' : 'still holds'} ${humanBytes(r.sizeAfter)}, over --max-size ${humanBytes(opts.maxSize)}: what is left: ${describeHeld(r.held ?? [], humanBytes)}\n`);
    }
    // This state directory's package index must not list what is gone: what this gc removed,
    // what another state directory's gc sharing the cache did, or a gc killed before this step
    // (not when the cache's artifacts folder is not there at all: a cache not mounted).
    if (opts.dryRun !== true && existsSync(join(state.cache, 'artifacts'))) {
      const { pruneIndex } = await import('../run/update-index.ts');
      const dropped = await pruneIndex(state.index, state.root, (problem) => ctx.stderr.write(`kiln: ${problem}\n`));
      if (dropped > 0) ctx.stdout.write(`dropped ${dropped} package${dropped === 1 ? '' : 's'} whose artifact was removed from ${state.index}\n`);
    }
  });

  const verify = cache
    .command('verify')
    .description('hash every download and every artifact archive against what it should be; exits 1 when one is damaged')
    .option('--fix', 'remove the damaged entries (the next build fetches or builds them again)')
    .option('--json', 'print the result as JSON');
  addStateOptions(verify);
  verify.action(async (opts: StateOptions & { fix?: boolean; json?: boolean }) => {
    const state = layoutFrom(opts);
    assertCacheGiven(opts, state.cache);
    const { verifyCache } = await import('../cache/verify.ts');
    const r = await verifyCache(state.cache, { fix: opts.fix === true });
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify({ cache: state.cache, ...r }, null, 2)}\n`);
    } else {
      ctx.stdout.write(`cache ${state.cache}: ${r.downloads} downloads and ${r.artifacts} artifacts checked, ${r.damaged.length} damaged\n`);
      for (const d of r.damaged) ctx.stdout.write(`  ${d.kind} ${d.path} ${d.problem}${r.fixed ? ': removed' : ''}\n`);
      if (r.damaged.length > 0 && !r.fixed) ctx.stdout.write('kiln cache verify --fix removes them; the next build fetches or builds them again\n');
    }
    // Removed artifacts leave this state directory's package index, as with gc.
    if (r.fixed && r.damaged.some((d) => d.kind === 'artifact')) {
      const { pruneIndex } = await import('../run/update-index.ts');
      const dropped = await pruneIndex(state.index, state.root, (problem) => ctx.stderr.write(`kiln: ${problem}\n`));
      if (dropped > 0 && opts.json !== true) ctx.stdout.write(`dropped ${dropped} package${dropped === 1 ? '' : 's'} whose artifact was removed from ${state.index}\n`);
    }
    if (r.damaged.length > 0 && !r.fixed) ctx.exitCode = 1;
  });

}

/** A --cache (or --state) that names no folder: said, rather than reported as an empty, sound cache (a typo). */
function assertCacheGiven(opts: StateOptions, cacheDir: string): void {
  if ((opts.cache === undefined && opts.state === undefined) || existsSync(cacheDir)) return;
  throw new KilnError('path-unusable', `no cache at ${cacheDir}: the folder does not exist`, {
    hint: `check --cache${opts.cache === undefined ? ' and --state' : ''} (kiln makes the cache at the first build that uses it)`,
  });
}
