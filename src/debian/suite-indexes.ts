// The indexes a Debian scan starts from: the suite's Release (verified), the Packages of
// each target arch and, when sources are named or --all, Sources. A suite the mirror lacks
// or an arch its Release does not list is the user's input, named where it was given (a
// flag, or a key of debian.toml); so is a keyring (--keyring, debian.toml's keyring) that
// is no keyring. The Release is checked against that keyring, else Debian's archive keyring.
// With several components (--components, debian.toml's components), each arch's Packages
// is theirs joined into one index (cached by content, as the others), and Sources is one
// index per component, looked up in order (components.ts).

import { indexArchsOf } from './cross.ts';
import { KilnError, isKilnError } from '../errors.ts';
import { isDebianArch } from './arch-names.ts';
import type { DebianRequest } from './debian-scan.ts';
import { createIndexes, DEBIAN_ARCHIVE_KEYRING, type SuiteRelease } from './indexes.ts';
import { readKeyring } from './inrelease.ts';
import type { ExtraRepositoryUsed } from './extra-repos.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite } from '../lib/atomic-write.ts';
import { sha256 } from '../lib/hash.ts';
import { DEFAULT_COMPONENTS, joinPackages, unknownComponents } from './components.ts';

/** Where a value came from: a flag (a usage error) or a key of debian.toml (config-invalid). */
export interface InputOrigin {
  readonly code: 'usage' | 'config-invalid';
  /** Prefixed to the message: `--debian`, or `/tree/debian.toml: suite`. */
  readonly where: string;
}

const FLAGS: { readonly suite: InputOrigin; readonly archs: InputOrigin; readonly keyring?: InputOrigin; readonly components?: InputOrigin } = { suite: { code: 'usage', where: '--debian' }, archs: { code: 'usage', where: '--arch' } };

/**
 * The suite's keyring (--keyring, or keyring in debian.toml) read before anything is
 * fetched: a missing, unreadable or non-key file is the user's input, named where it was
 * given. Read by the same reader as the InRelease check (inrelease.ts readKeyring).
 */
async function checkKeyring(path: string, origin: InputOrigin): Promise<void> {
  await readKeyring(path).catch((e: unknown) => {
    throw new KilnError(origin.code, `${origin.where}: ${(e as Error).message}`, {
      hint: 'name the keyring the archive is signed with: a binary keyring (.gpg) or an ASCII-armoured key (.asc), as apt\'s signed-by takes (a derivative\'s or debian-ports\' keyring package installs it in /usr/share/keyrings)',
      cause: e,
    });
  });
}

/** The hint of a refused InRelease of the suite: which keyring to give, or that the mirror may be tampered with. */
function signatureHint(keyring: string | undefined, origin: InputOrigin): string {
  return keyring === undefined
    ? `the suite is checked against Debian's archive keyring (${DEBIAN_ARCHIVE_KEYRING}): for a Debian derivative or debian-ports, give the keyring its archive is signed with (--keyring FILE, or keyring = "FILE" in debian.toml); for Debian, update debian-archive-keyring or try another mirror (it may be serving a tampered InRelease)`
    : `${origin.where} ${keyring} does not hold a key that signed it: give the keyring this archive is signed with; if it is the right one, the mirror may be serving a tampered InRelease (try another mirror)`;
}

/**
 * Fetches and verifies the suite's Release, the Packages of each arch and (if names or
 * --all ask for it) Sources; with extra repositories, each arch's Packages is the suite's
 * merged with theirs (extra-repos.ts).
 */
export async function fetchIndexes(req: DebianRequest): Promise<{ release: SuiteRelease; packagesPaths: Map<string, string>; sourcesPaths: { component: string; path: string }[]; extras: ExtraRepositoryUsed[] }> {
  const indexes = createIndexes({ cacheDir: req.cacheDir, downloads: req.downloads, ...(req.keyring === undefined ? {} : { keyring: req.keyring }), ...(req.checkValidUntil === false ? { checkValidUntil: false } : {}) });
  const sig = req.signal === undefined ? {} : { signal: req.signal };
  const origin = req.origin ?? FLAGS;
  const keyringOrigin = origin.keyring ?? { code: 'usage', where: '--keyring' };
  if (req.keyring !== undefined) await checkKeyring(req.keyring, keyringOrigin);
  const release = await indexes.release(req.mirror, req.suite, sig).catch((e: unknown) => {
    // A suite the mirror lacks (or not a suite name): the user's input, named where it was given.
    if (isKilnError(e) && e.code === 'usage') throw new KilnError(origin.suite.code, `${origin.suite.where}: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint });
    // A refused signature (indexes.ts names the keyring it was checked against): which keyring to give.
    // An expired or another suite's Release keeps its own hint.
    if (isKilnError(e) && e.code === 'signature-invalid' && e.message.includes('(checked against the keyring ')) throw new KilnError(e.code, e.message, { hint: signatureHint(req.keyring, keyringOrigin), cause: e });
    throw e;
  });
  const unknown = unknownArchs(indexArchsOf(req), release.release.architectures);
  if (unknown.length > 0) {
    // A real Debian arch this suite lacks (riscv64 before trixie) is not "unknown": another suite has it.
    const real = unknown.filter(isDebianArch);
    throw new KilnError(origin.archs.code, `${origin.archs.where}: ${real.length === unknown.length ? `${req.suite} has no ${unknown.join(', ')}` : `unknown architecture ${unknown.map((a) => `"${a}"`).join(', ')}`}: ${req.suite} has ${release.release.architectures.filter((a) => a !== 'all').join(' ')}`, {
      hint: real.includes('riscv64')
        ? 'riscv64 is a Debian release arch from trixie on: build it from trixie or sid (--debian trixie), or leave riscv64 out of --arch'
        : real.length === unknown.length ? 'leave it out of --arch, or build from a suite that has it' : 'name architectures the suite has (Debian names: amd64, arm64, armhf, i386, riscv64, ppc64el, s390x…)',
    });
  }
  const components = req.components ?? DEFAULT_COMPONENTS;
  const unknownComponent = unknownComponents(components, release.release.components, { suite: req.suite, url: release.url, origin: origin.components ?? { code: 'usage', where: '--components' } });
  if (unknownComponent !== undefined) throw unknownComponent;
  let packagesPaths = new Map<string, string>();
  // --cross: the build arch's too (its tools, and where arch-independent packages build).
  for (const arch of indexArchsOf(req)) {
    if (components.length === 1) {
      packagesPaths.set(arch, await indexes.packages(release, arch, { component: components[0]!, ...sig }));
      continue;
    }
    // A component without this arch (the Release lists no Packages of it) adds nothing to it; the first component's missing index is said as before.
    const listed = components.filter((c, i) => i === 0 || [...release.release.files.keys()].some((p) => p.startsWith(`${c}/binary-${arch}/Packages`)));
    const texts: string[] = [];
    for (const component of listed) texts.push(await readFile(await indexes.packages(release, arch, { component, ...sig }), 'utf8'));
    const text = joinPackages(texts);
    const file = join(req.cacheDir, 'indexes', sha256(text));
    await atomicWrite(file, text);
    packagesPaths.set(arch, file);
  }
  let extras: ExtraRepositoryUsed[] = [];
  if ((req.extraRepositories ?? []).length > 0) {
    const { mergeExtraRepositories } = await import('./extra-repos.ts');
    const merged = await mergeExtraRepositories({ repos: req.extraRepositories!, keys: req.extraKeys ?? [], ...(req.keyring === undefined ? {} : { suiteKeyring: req.keyring }), ...(req.checkValidUntil === false ? { checkValidUntil: false as const } : {}), packagesPaths, cacheDir: req.cacheDir, downloads: req.downloads, ...sig });
    packagesPaths = merged.packagesPaths;
    extras = merged.used;
  }
  // --extra-package: the local .debs join the index of each arch they fit (extra-packages.ts).
  if ((req.extraPackages ?? []).length > 0) {
    const { mergeExtraPackagesInto } = await import('./extra-packages.ts');
    packagesPaths = await mergeExtraPackagesInto(packagesPaths, req.extraPackages!, req.cacheDir);
  }
  const needSources = req.all || req.sources.length > 0;
  const sourcesPaths: { component: string; path: string }[] = [];
  if (needSources) for (const component of components) sourcesPaths.push({ component, path: await indexes.sources(release, { component, ...sig }) });
  return { release, packagesPaths, sourcesPaths, extras };
}

/**
 * The decompressed Sources of one more component of the suite (one the run does not read),
 * for saying where a source that is not in the run's components is (debian-scan.ts).
 */
export async function otherSources(req: DebianRequest, release: SuiteRelease, component: string): Promise<string> {
  const indexes = createIndexes({ cacheDir: req.cacheDir, downloads: req.downloads, ...(req.keyring === undefined ? {} : { keyring: req.keyring }), ...(req.checkValidUntil === false ? { checkValidUntil: false } : {}) });
  return indexes.sources(release, { component, ...(req.signal === undefined ? {} : { signal: req.signal }) });
}

/** The archs of a run that the suite's Release does not list (none when it lists no archs at all) (pure). */
export function unknownArchs(archs: readonly string[], listed: readonly string[]): string[] {
  if (listed.length === 0) return [];
  return archs.filter((a) => a !== 'all' && !listed.includes(a));
}
