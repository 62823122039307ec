// ccache benchmark (`npm run bench -- --suite ccache`): the example tree (zlib, libpng,
// pngcrush) built on the host sandbox into a fresh state dir with --ccache (a cold
// compiler cache, and the downloads), then rebuilt whole (--force '*') without ccache, then
// rebuilt whole with the now warm ccache. Prints each wall clock, ccache's hits and misses
// of each --ccache run, and the ratio warm ccache / no ccache (lower is better).
//
//   node bench/ccache.ts [--keep]
//
// Needs ccache on the host (scripts/setup.sh installs it) and the Debian mirror of the
// host's apt sources (the examples fetch their sources through mirror://debian/).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..');
const KILN = join(REPO, 'bin', 'kiln.js');
const EXAMPLES = join(REPO, 'examples');

export interface CcacheBenchResult {
  readonly coldMs: number;
  readonly noCcacheMs: number;
  readonly warmMs: number;
  /** warm ccache / no ccache. */
  readonly ratio: number;
}

export async function benchCcache(o: { readonly keep?: boolean; readonly log: (line: string) => void }): Promise<CcacheBenchResult | undefined> {
  if (!existsSync('/usr/lib/ccache/gcc') || !existsSync('/usr/bin/ccache')) {
    o.log('ccache bench skipped: no ccache on this host (scripts/setup.sh installs it)');
    return undefined;
  }
  const root = await mkdtemp(join(tmpdir(), 'kiln-bench-ccache-'));
  const state = join(root, 'state');
  const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  const ccacheDir = join(state, 'cache', 'ccache', `host-${arch}`);
  const stats = (): { hits: number; misses: number } => {
    const out = spawnSync('ccache', ['--print-stats'], { env: { PATH: '/usr/bin:/bin', CCACHE_DIR: ccacheDir }, encoding: 'utf8' }).stdout ?? '';
    const n = (k: string): number => Number(new RegExp(`^${k}\\t(\\d+)$`, 'm').exec(out)?.[1] ?? 0);
    return { hits: n('direct_cache_hit') + n('preprocessed_cache_hit'), misses: n('cache_miss') };
  };
  const build = (what: string, ...extra: string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [KILN, 'build', '--tree', EXAMPLES, '--state', state, '--sandbox', 'host', ...extra], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${what}: kiln build exited ${r.status}:\n${(r.stderr + r.stdout).slice(-2000)}`);
    return ms;
  };
  try {
    o.log('ccache bench: the example tree (zlib, libpng, pngcrush) on the host sandbox, a fresh state dir');
    const before = { hits: 0, misses: 0 };
    const coldMs = build('cold, --ccache', '--ccache');
    const cold = stats();
    const noCcacheMs = build('rebuild, --no-ccache', '--no-ccache', '--force', '*');
    const warmMs = build('rebuild, --ccache (warm)', '--ccache', '--force', '*');
    const warm = stats();
    const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    o.log(`  cold build, --ccache (cold cache, downloads too)  ${s(coldMs).padStart(9)}   ccache: ${cold.hits - before.hits} hits, ${cold.misses - before.misses} misses`);
    o.log(`  rebuild (--force '*'), no ccache                 ${s(noCcacheMs).padStart(9)}`);
    o.log(`  rebuild (--force '*'), warm ccache               ${s(warmMs).padStart(9)}   ccache: ${warm.hits - cold.hits} hits, ${warm.misses - cold.misses} misses`);
    const ratio = warmMs / noCcacheMs;
    o.log(`  warm ccache / no ccache: ${ratio.toFixed(2)}`);
    return { coldMs, noCcacheMs, warmMs, ratio };
  } finally {
    if (o.keep === true) o.log(`kept: ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await benchCcache({ keep: process.argv.includes('--keep'), log: (l) => process.stdout.write(`${l}\n`) });
}
