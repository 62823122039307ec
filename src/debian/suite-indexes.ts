// The indexes a Debian scan starts from: the suite's Release (verified), the Packages of
// each target arch and, when sources are named or --all, Sources. A suite the mirror lacks
// or an arch its Release does not list is the user's input, named where it was given (a
// flag, or a key of debian.toml).

import { KilnError, isKilnError } from '../errors.ts';
import type { DebianRequest } from './debian-scan.ts';
import { createIndexes, type SuiteRelease } from './indexes.ts';
import type { ExtraRepositoryUsed } from './extra-repos.ts';

/** Where a value came from: a flag (a usage error) or a key of debian.toml (config-invalid). */
export interface InputOrigin {
  readonly code: 'usage' | 'config-invalid';
  /** Prefixed to the message: `--debian`, or `/tree/debian.toml: suite`. */
  readonly where: string;
}

const FLAGS: { readonly suite: InputOrigin; readonly archs: InputOrigin } = { suite: { code: 'usage', where: '--debian' }, archs: { code: 'usage', where: '--arch' } };

/**
 * Fetches and verifies the suite's Release, the Packages of each arch and (if names or
 * --all ask for it) Sources; with extra repositories, each arch's Packages is the suite's
 * merged with theirs (extra-repos.ts).
 */
export async function fetchIndexes(req: DebianRequest): Promise<{ release: SuiteRelease; packagesPaths: Map<string, string>; sourcesPath: string | undefined; extras: ExtraRepositoryUsed[] }> {
  const indexes = createIndexes({ cacheDir: req.cacheDir, downloads: req.downloads, ...(req.keyring === undefined ? {} : { keyring: req.keyring }) });
  const sig = req.signal === undefined ? {} : { signal: req.signal };
  const origin = req.origin ?? FLAGS;
  const release = await indexes.release(req.mirror, req.suite, sig).catch((e: unknown) => {
    // A suite the mirror lacks (or not a suite name): the user's input, named where it was given.
    throw isKilnError(e) && e.code === 'usage' ? new KilnError(origin.suite.code, `${origin.suite.where}: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint }) : e;
  });
  const unknown = unknownArchs(req.archs, release.release.architectures);
  if (unknown.length > 0) {
    throw new KilnError(origin.archs.code, `${origin.archs.where}: unknown architecture ${unknown.map((a) => `"${a}"`).join(', ')}: ${req.suite} has ${release.release.architectures.filter((a) => a !== 'all').join(' ')}`, {
      hint: 'name architectures the suite has (Debian names: amd64, arm64, armhf, i386, riscv64, ppc64el, s390x…)',
    });
  }
  let packagesPaths = new Map<string, string>();
  for (const arch of req.archs) packagesPaths.set(arch, await indexes.packages(release, arch, sig));
  let extras: ExtraRepositoryUsed[] = [];
  if ((req.extraRepositories ?? []).length > 0) {
    const { mergeExtraRepositories } = await import('./extra-repos.ts');
    const merged = await mergeExtraRepositories({ repos: req.extraRepositories!, keys: req.extraKeys ?? [], packagesPaths, cacheDir: req.cacheDir, downloads: req.downloads, ...sig });
    packagesPaths = merged.packagesPaths;
    extras = merged.used;
  }
  const needSources = req.all || req.sources.length > 0;
  const sourcesPath = needSources ? await indexes.sources(release, sig) : undefined;
  return { release, packagesPaths, sourcesPath, extras };
}

/** The archs of a run that the suite's Release does not list (none when it lists no archs at all) (pure). */
export function unknownArchs(archs: readonly string[], listed: readonly string[]): string[] {
  if (listed.length === 0) return [];
  return archs.filter((a) => a !== 'all' && !listed.includes(a));
}
