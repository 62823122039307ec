// The pure half of an apt repository: where a .deb or .udeb goes in the pool, its Packages
// paragraph, which entries an index keeps when a repository is published again, which
// entries each binary-ARCH index lists, and the Release text. No I/O; apt-repo.ts does it.
//
// Layout (as Debian's archive, dak and reprepro have it):
//   pool/COMPONENT/<p>/<source>/<package>_<version>_<arch>.deb   <p>: first letter, or libX
//   pool/COMPONENT/<p>/<source>/<package>_<version>_<arch>.udeb  (debian-installer packages)
//   dists/SUITE/Release, InRelease, Release.gpg
//   dists/SUITE/COMPONENT/binary-ARCH/Packages, Packages.xz (+ by-hash/SHA256/<sha256>)
//   dists/SUITE/COMPONENT/debian-installer/binary-ARCH/Packages, …   (the .udebs only)
//   dists/SUITE/COMPONENT/source/Sources, Sources.xz   (source packages: apt-repo-sources.ts)
//
// Architecture: all packages are listed in every binary-ARCH index and also in binary-all;
// Release lists `all` and says `No-Support-for-Architecture-all: Packages`, which tells
// apt (≥ 1.2) that binary-ARCH already holds them, as Debian's own Release does. The same
// for .udebs under debian-installer/. A .udeb is told by its pool file name (`.udeb`), as
// dak tells it: .debs and .udebs are two indexes, so one name may be in both.

import { KilnError } from '../errors.ts';
import { compareVersions } from '../debian/version.ts';
import { fieldValue, renderFields, type ControlField, type DebControl } from '../debian/deb-file.ts';

/** One package in an index: its whole Packages paragraph plus the keys kiln sorts by. */
export interface IndexEntry {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** The pool path relative to the repository root (the Filename field). */
  readonly filename: string;
  readonly sha256: string;
  readonly fields: readonly ControlField[];
}

export interface DebFileFacts {
  readonly size: number;
  readonly sha256: string;
  readonly md5: string;
}

// Fields that describe the file in the pool, not the package: the index sets them.
const FILE_FIELDS = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512']);

/** `pool/main/h/hello`, `pool/main/libp/libpng1.6`: the directory of a source's files. */
export function poolDir(component: string, source: string): string {
  const prefix = source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source.slice(0, 1);
  return `pool/${component}/${prefix}/${source}`;
}

/** A binary package for the system (`deb`), or for debian-installer (`udeb`). */
export type PackageKind = 'deb' | 'udeb';

/**
 * A file's kind: `udeb` when its name ends in `.udeb` or its control says
 * `Package-Type: udeb` (dpkg-gencontrol's field), else `deb`.
 */
export function packageKindOf(path: string, fields: readonly ControlField[]): PackageKind {
  return path.endsWith('.udeb') || fieldValue(fields, 'Package-Type')?.trim() === 'udeb' ? 'udeb' : 'deb';
}

/** The kind of an index entry, by its pool file name. */
export function kindOfEntry(e: Pick<IndexEntry, 'filename'>): PackageKind {
  return e.filename.endsWith('.udeb') ? 'udeb' : 'deb';
}

/** `hello_2.10-3_amd64.deb` (`.udeb` for a udeb): the canonical file name (dpkg-name's), epoch dropped. */
export function debFileName(control: Pick<DebControl, 'package' | 'version' | 'architecture'>, kind: PackageKind = 'deb'): string {
  const colon = control.version.indexOf(':');
  const version = colon >= 0 ? control.version.slice(colon + 1) : control.version;
  return `${control.package}_${version}_${control.architecture}.${kind}`;
}

/** The index entry of a .deb (or .udeb): its control fields, then Filename, Size, MD5sum, SHA256. */
export function entryForDeb(control: DebControl, file: DebFileFacts, component: string, kind: PackageKind = 'deb'): IndexEntry {
  const filename = `${poolDir(component, control.source)}/${debFileName(control, kind)}`;
  const fields: ControlField[] = control.fields.filter((f) => !FILE_FIELDS.has(f.name.toLowerCase()));
  fields.push(
    { name: 'Filename', value: filename },
    { name: 'Size', value: String(file.size) },
    { name: 'MD5sum', value: file.md5 },
    { name: 'SHA256', value: file.sha256 },
  );
  return { package: control.package, version: control.version, architecture: control.architecture, filename, sha256: file.sha256, fields };
}

/** An entry read back from a Packages index this module wrote. */
export function entryFromParagraph(fields: readonly ControlField[], source: string): IndexEntry {
  const get = (name: string): string => {
    const v = fieldValue(fields, name);
    if (v === undefined || v === '') {
      throw new KilnError('index-invalid', `${source}: a paragraph has no ${name} field`, {
        hint: 'the repository index was edited or damaged; publish into a fresh --repo directory',
      });
    }
    return v;
  };
  return {
    package: get('Package'),
    version: get('Version'),
    architecture: get('Architecture'),
    filename: get('Filename'),
    sha256: get('SHA256'),
    fields,
  };
}

export type MergeOutcome = 'added' | 'replaced' | 'unchanged' | 'older';

export interface MergeResult {
  /** The index's entries after the merge, sorted by package then architecture. */
  readonly entries: readonly IndexEntry[];
  /** What happened to each added entry, in the order given. */
  readonly outcomes: readonly { readonly entry: IndexEntry; readonly outcome: MergeOutcome; readonly previous?: string }[];
}

/**
 * Merge new .debs into a component's entries: one entry per package and architecture, the
 * highest version (dpkg's order) wins; an older version than the one listed, or than
 * another added in the same merge, is left out as `older` (its pool file stays). The same
 * version with other content is a conflict, as in Debian's archive (a version, once
 * published, means one file), unless `replaceSameVersion` (kiln's own rebuilds of a Debian
 * version after a build dependency changed): then the new build replaces it. `suite`
 * names the suite in the conflict's hint (its `kiln repo remove` command).
 */
export function mergeEntries(existing: readonly IndexEntry[], added: readonly IndexEntry[], options: { replaceSameVersion?: boolean; suite?: string } = {}): MergeResult {
  const byKey = new Map<string, IndexEntry>();
  for (const e of existing) {
    const k = keyOf(e);
    const had = byKey.get(k);
    if (had === undefined || compareVersions(e.version, had.version) > 0) byKey.set(k, e);
  }
  // The highest version each package and architecture is given in this merge: a lower one
  // given beside it never reaches the index, whatever the order they come in.
  const highest = new Map<string, string>();
  for (const e of added) {
    const top = highest.get(keyOf(e));
    if (top === undefined || compareVersions(e.version, top) > 0) highest.set(keyOf(e), e.version);
  }
  const outcomes: { entry: IndexEntry; outcome: MergeOutcome; previous?: string }[] = [];
  for (const e of added) {
    const k = keyOf(e);
    const top = highest.get(k)!;
    if (compareVersions(e.version, top) < 0) {
      const listed = byKey.get(k);
      outcomes.push({ entry: e, outcome: 'older', previous: listed !== undefined && compareVersions(listed.version, top) > 0 ? listed.version : top });
      continue;
    }
    const had = byKey.get(k);
    if (had === undefined) {
      byKey.set(k, e);
      outcomes.push({ entry: e, outcome: 'added' });
      continue;
    }
    const c = compareVersions(e.version, had.version);
    if (c > 0) {
      byKey.set(k, e);
      outcomes.push({ entry: e, outcome: 'replaced', previous: had.version });
    } else if (c < 0) {
      outcomes.push({ entry: e, outcome: 'older', previous: had.version });
    } else if (e.sha256 === had.sha256) {
      // The listed entry: its file is in the pool already, at the path the index names (a
      // same-version rebuild's under its `+SHA` folder, apt-repo-place.ts).
      outcomes.push({ entry: had, outcome: 'unchanged' });
    } else if (options.replaceSameVersion === true) {
      byKey.set(k, e);
      outcomes.push({ entry: e, outcome: 'replaced', previous: had.version });
    } else {
      throw new KilnError('conflict', `${e.package} ${e.version} (${e.architecture}${kindOfEntry(e) === 'udeb' ? ', .udeb' : ''}) is already published with other content (${had.filename}, sha256 ${had.sha256.slice(0, 12)}…, new ${e.sha256.slice(0, 12)}…)`, {
        hint: `a published version must not change: give the rebuild a new version (e.g. a +kiln1 suffix), take the published one out first with \`kiln repo remove --suite ${options.suite ?? 'SUITE'} ${e.package}:${e.architecture}=${e.version}\` (with the same --repo or --state), or publish into a fresh repository`,
      });
    }
  }
  return { entries: [...byKey.values()].sort(entryOrder), outcomes };
}

// A .deb and a .udeb of one name are two packages (two indexes), as in Debian's archive.
function keyOf(e: IndexEntry): string {
  return `${e.package}\0${e.architecture}\0${kindOfEntry(e)}`;
}

function entryOrder(a: IndexEntry, b: IndexEntry): number {
  return cmp(a.package, b.package) || cmp(a.architecture, b.architecture) || cmp(kindOfEntry(a), kindOfEntry(b)) || compareVersions(a.version, b.version);
}

/**
 * Entries listed in `binary-<arch>/Packages` (kind `deb`) or in
 * `debian-installer/binary-<arch>/Packages` (kind `udeb`): that arch's and the `all` ones
 * of that kind (for `all`: only those).
 */
export function entriesForArch(entries: readonly IndexEntry[], arch: string, kind: PackageKind = 'deb'): IndexEntry[] {
  return entries.filter((e) => (e.architecture === arch || e.architecture === 'all') && kindOfEntry(e) === kind);
}

/** A Packages index: one paragraph per entry, separated by blank lines. */
export function renderPackages(entries: readonly IndexEntry[]): string {
  return entries.map((e) => renderFields(e.fields)).join('\n');
}

/**
 * The binary-ARCH directories of a repository: every architecture given, seen before or
 * in a package, `all` apart; when only `all` packages exist, the fallback (the host's).
 */
export function repoArchitectures(sets: readonly (readonly string[])[], fallback: string): string[] {
  const archs = new Set<string>();
  for (const s of sets) for (const a of s) if (a !== 'all') archs.add(a);
  if (archs.size === 0) archs.add(fallback);
  return [...archs].sort(cmp);
}

/** node's process.arch as a Debian architecture name (for the arch-all-only fallback). */
export function debianArchOf(nodeArch: string): string {
  switch (nodeArch) {
    case 'x64': return 'amd64';
    case 'ia32': return 'i386';
    case 'arm': return 'armhf';
    case 'ppc64': return 'ppc64el';
    case 'loong64': return 'loong64';
    default: return nodeArch; // arm64, riscv64, s390x, mips64el
  }
}

export interface ReleaseIndexFile {
  /** Relative to dists/SUITE/. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface ReleaseFields {
  readonly origin: string;
  readonly label: string;
  readonly suite: string;
  readonly codename: string;
  readonly date: Date;
  /** Real architectures (`all` is added). */
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  readonly description?: string;
  readonly acquireByHash: boolean;
  readonly files: readonly ReleaseIndexFile[];
}

/** The Release text (unsigned). Dates in RFC 1123 form with `UTC`, as apt writes and reads them. */
export function renderRelease(r: ReleaseFields): string {
  const lines = [
    `Origin: ${r.origin}`,
    `Label: ${r.label}`,
    `Suite: ${r.suite}`,
    `Codename: ${r.codename}`,
    `Date: ${releaseDate(r.date)}`,
    `Architectures: ${['all', ...r.architectures.filter((a) => a !== 'all')].join(' ')}`,
    `Components: ${r.components.join(' ')}`,
    ...(r.description === undefined ? [] : [`Description: ${r.description}`]),
    'No-Support-for-Architecture-all: Packages',
    ...(r.acquireByHash ? ['Acquire-By-Hash: yes'] : []),
    'SHA256:',
    ...[...r.files].sort((a, b) => cmp(a.path, b.path)).map((f) => ` ${f.sha256} ${String(f.size).padStart(16)} ${f.path}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function releaseDate(d: Date): string {
  // toUTCString: "Sun, 22 Nov 2026 02:11:07 GMT"; Debian's Release files say UTC.
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** Suite and component names become directory names: one path component, no dots only. */
export function checkRepoName(what: 'suite' | 'component', name: string): void {
  if (!NAME_RE.test(name)) {
    throw new KilnError('usage', `${what} "${name}" is not a valid ${what} name (letters, digits, . _ + -, starting with a letter or digit)`, {
      hint: what === 'suite' ? 'use a name such as bookworm or kiln-unstable' : 'use main (or contrib, non-free)',
    });
  }
}

/**
 * A Release field's value given by the user (Origin, Label): one line of printable text, as
 * a line break would start a field of its own in the signed Release (and make it unreadable).
 */
export function checkReleaseText(what: 'origin' | 'label', text: string): void {
  if (text.trim() === '' || /[\x00-\x1f\x7f]/.test(text)) {
    throw new KilnError('usage', `--${what}: ${JSON.stringify(text)} is not one line of text: a Release ${what === 'origin' ? 'Origin' : 'Label'} is a single line without control characters`, {
      hint: `give e.g. --${what} "${what === 'origin' ? 'Example Corp' : 'Example Corp builds'}"`,
    });
  }
}

// Code-point order, not locale order: the same index on every machine.
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
