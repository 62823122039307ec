// Extra repositories for a Debian run's build dependencies, as sbuild's
// --extra-repository: the suite's -updates or -security, backports, or a repository of
// one's own (kiln's published one, say). Each is a `deb` line:
//
//   deb [signed-by=FILE] URI SUITE [COMPONENT…]        components default to main
//
// Its InRelease is verified as the suite's is (against the suite's keyring — --keyring, else
// the Debian archive keyring — plus every --extra-repository-key, or only the line's signed-by), its Packages checked
// against it, and each is merged into the run's Packages index of every arch (one file,
// cached by content): planning, dose, the input keys and apt in the sandbox all see one
// index, and a binary from an extra repository carries the field X-Kiln-Mirror naming
// where to download it. Merging follows apt's candidate choice at equal priority: every
// version of an ordinary repository joins the suite's (the highest wins); a NotAutomatic
// one (backports) adds only names that no other source has, as its priority 1 does in apt.
// Sources are the suite's alone.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { KilnError, isKilnError } from '../errors.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import { sha256 } from '../lib/hash.ts';
import { createIndexes, DEBIAN_ARCHIVE_KEYRING } from './indexes.ts';
import { forEachStanza, rawField } from './lazy-index.ts';
import type { ExtraRepository } from './extra-repo-line.ts';
import { hasComponent } from './components.ts';

export { parseExtraRepository, type ExtraRepository } from './extra-repo-line.ts';
export { hasComponent } from './components.ts';

/** One extra repository's Packages of one arch, to merge. */
export interface ExtraIndex {
  readonly mirror: string;
  readonly text: string;
  readonly notAutomatic: boolean;
}

interface Stanza {
  readonly name: string;
  readonly text: string;
}

function stanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  forEachStanza(text, (name, stanza) => out.push({ name, text: stanza.replace(/\n+$/, '') }));
  return out;
}

const field = (stanza: string, name: string): string => rawField(stanza, name) ?? '';
const identity = (s: Stanza): string => `${s.name}=${field(s.text, 'Version')}:${field(s.text, 'Architecture')}`;

/**
 * The suite's Packages `base` with the extra repositories' stanzas added (see the file's
 * head): a binary (name, version, arch) or a Filename already there is not added again;
 * a NotAutomatic repository adds only names no other source has; each added stanza ends
 * with `X-Kiln-Mirror: <its base url>` (any such field it had is dropped) (pure).
 */
export function mergePackages(base: string, extras: readonly ExtraIndex[]): { text: string; added: number[] } {
  const parsed = extras.map((e) => ({ ...e, list: stanzas(e.text) }));
  const wanted = new Set(parsed.flatMap((e) => e.list.map((s) => s.name)));
  // Of the base's stanzas, those of names the extras also have (one scan, no parse).
  const seen = new Set<string>();
  const files = new Set<string>();
  const automaticNames = new Set<string>();
  forEachStanza(base, (name, text) => {
    if (!wanted.has(name)) return;
    seen.add(identity({ name, text }));
    automaticNames.add(name);
  });
  // Every file of the suite, whatever its name: two binaries must not share one path.
  for (const m of base.matchAll(/^Filename:[ \t]*(\S+)/gm)) files.add(m[1]!);
  for (const e of parsed) if (!e.notAutomatic) for (const s of e.list) automaticNames.add(s.name);
  const added: string[] = [];
  const counts = parsed.map(() => 0);
  for (const [i, e] of parsed.entries()) {
    for (const s of e.list) {
      if (e.notAutomatic && automaticNames.has(s.name)) continue;
      const id = identity(s);
      const file = field(s.text, 'Filename');
      if (seen.has(id) || files.has(file)) continue;
      seen.add(id);
      files.add(file);
      added.push(`${s.text.replace(/^X-Kiln-Mirror:.*(\n[ \t].*)*\n?/gim, '').replace(/\n+$/, '')}\nX-Kiln-Mirror: ${e.mirror}`);
      counts[i]!++;
    }
  }
  const head = base.replace(/\n*$/, '');
  return { text: added.length === 0 ? base : `${head}${head === '' ? '' : '\n\n'}${added.join('\n\n')}\n`, added: counts };
}

/** What a run took from one extra repository (for the plan and the build logs). */
export interface ExtraRepositoryUsed {
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
  readonly notAutomatic: boolean;
  /** Binaries it added to each arch's index. */
  readonly added: Readonly<Record<string, number>>;
}

export interface MergeRequest {
  readonly repos: readonly ExtraRepository[];
  /** --extra-repository-key files: with the suite's keyring, what a repository without signed-by may be signed by. */
  readonly keys: readonly string[];
  /** The suite's keyring (--keyring, debian.toml's keyring); default: Debian's archive keyring. */
  readonly suiteKeyring?: string;
  /** false: as the suite's (--no-check-valid-until), a Release past its Valid-Until is taken. */
  readonly checkValidUntil?: false;
  /** The suite's Packages of each arch. */
  readonly packagesPaths: ReadonlyMap<string, string>;
  readonly cacheDir: string;
  readonly downloads: Downloads;
  readonly signal?: AbortSignal;
}

/**
 * Fetches and verifies each extra repository's Release and the Packages of the run's
 * archs and its components, and returns the merged index of each arch (written to
 * `<cacheDir>/indexes/<sha256>`, as the other indexes are).
 */
export async function mergeExtraRepositories(req: MergeRequest): Promise<{ packagesPaths: Map<string, string>; used: ExtraRepositoryUsed[] }> {
  const sig = req.signal === undefined ? {} : { signal: req.signal };
  const perArch = new Map<string, { repo: number; index: ExtraIndex }[]>([...req.packagesPaths.keys()].map((a) => [a, []]));
  const notAutomatic: boolean[] = [];
  for (const [r, repo] of req.repos.entries()) {
    const keyring = repo.signedBy !== undefined ? [repo.signedBy] : [req.suiteKeyring ?? DEBIAN_ARCHIVE_KEYRING, ...req.keys];
    const indexes = createIndexes({ cacheDir: req.cacheDir, downloads: req.downloads, keyring, ...(req.checkValidUntil === false ? { checkValidUntil: false } : {}) });
    const release = await indexes.release(repo.uri, repo.suite, sig).catch((e: unknown) => {
      throw named(repo, e);
    });
    const missing = repo.components.filter((c) => !hasComponent(release.release.components, c));
    if (missing.length > 0) {
      throw new KilnError(repo.code, `${repo.where} "${repo.line}": ${release.url} has no component ${missing.join(', ')} (it has ${release.release.components.join(' ')})`, {
        hint: 'name components the repository has, after the suite',
      });
    }
    notAutomatic.push(release.release.notAutomatic);
    let found = 0;
    for (const [a, list] of perArch) {
      for (const component of repo.components) {
        // A repository without this arch (kiln's own, built for amd64 alone, say) adds nothing to it.
        const listed = [...release.release.files.keys()].some((p) => p.startsWith(`${component}/binary-${a}/Packages`));
        if (!listed) continue;
        const path = await indexes.packages(release, a, { component, ...sig }).catch((e: unknown) => {
          throw named(repo, e);
        });
        list.push({ repo: r, index: { mirror: repo.uri, text: await readFile(path, 'utf8'), notAutomatic: release.release.notAutomatic } });
        found++;
      }
    }
    // Not one index for the run's archs: a mistake (a component or arch it does not have), not a quiet no-op.
    if (found === 0) {
      throw new KilnError(repo.code, `${repo.where} "${repo.line}": ${release.url} lists no Packages of ${repo.components.join(', ')} for ${[...perArch.keys()].join(', ')}`, {
        hint: `it has the architectures ${release.release.architectures.join(' ') || '(none listed)'} and the components ${release.release.components.join(' ') || '(none listed)'}: name what this run builds for`,
      });
    }
  }
  const packagesPaths = new Map<string, string>();
  // Binaries each repository added, per arch.
  const added = req.repos.map(() => ({} as Record<string, number>));
  for (const [a, list] of perArch) {
    const base = req.packagesPaths.get(a)!;
    if (list.length === 0) {
      packagesPaths.set(a, base);
      continue;
    }
    const merged = mergePackages(await readFile(base, 'utf8'), list.map((x) => x.index));
    const file = join(req.cacheDir, 'indexes', sha256(merged.text));
    await atomicWrite(file, merged.text);
    packagesPaths.set(a, file);
    list.forEach((x, i) => {
      added[x.repo]![a] = (added[x.repo]![a] ?? 0) + merged.added[i]!;
    });
  }
  const used = req.repos.map((repo, i) => ({ uri: repo.uri, suite: repo.suite, components: repo.components, notAutomatic: notAutomatic[i]!, added: added[i]! }));
  return { packagesPaths, used };
}


/** An error of one extra repository, prefixed with where it was given and its line. */
function named(repo: ExtraRepository, e: unknown): unknown {
  if (!isKilnError(e)) return e;
  const hint = e.code === 'signature-invalid'
    ? 'give the keyring it is signed with: --extra-repository-key FILE (extra-repository-keys in debian.toml), or [signed-by=FILE] in the line (kiln key export writes the key of a repository kiln published); if that is given already, the repository may be serving a tampered InRelease'
    : e.hint;
  // A suite the repository lacks is the user's input, named where it was given.
  return new KilnError(e.code === 'usage' ? repo.code : e.code, `${repo.where} "${repo.line}": ${e.message}`, { ...(hint === undefined ? {} : { hint }), cause: e });
}
