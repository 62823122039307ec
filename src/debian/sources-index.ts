// Sources and Packages indexes parsed into source and binary packages, with lookups by
// name and name=version. Relation fields are parsed with relation.ts; a relation that does
// not parse is kept out and reported in the package's `problems` (so one odd package in a
// 34k-package suite does not stop the plan; the planner decides what a problem means).
import type { AltGroup, Provide } from './relation-types.ts';
import { parseProvides, parseRelations } from './relation.ts';
import { compareVersions } from './version.ts';
import { folded, iterateDeb822, multilineLines, required, words } from './deb822.ts';
import type { Paragraph } from './deb822.ts';
import { KilnError } from '../errors.ts';
import { INDEX_INVALID } from './deb822.ts';

export interface SourceFile {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
}

export interface SourcePackage {
  readonly package: string;
  readonly version: string;
  /** Binary packages it builds (the Binary field). */
  readonly binaries: readonly string[];
  /** Architecture field: `any`, `all`, `amd64 riscv64`, `linux-any`, … */
  readonly architecture: readonly string[];
  readonly buildDepends: readonly AltGroup[];
  readonly buildDependsArch: readonly AltGroup[];
  readonly buildDependsIndep: readonly AltGroup[];
  readonly buildConflicts: readonly AltGroup[];
  readonly buildConflictsArch: readonly AltGroup[];
  readonly buildConflictsIndep: readonly AltGroup[];
  /** Pool directory relative to the mirror base, e.g. `pool/main/h/hello`. */
  readonly directory: string;
  /** Checksums-Sha256: the .dsc and its files. */
  readonly files: readonly SourceFile[];
  /** Relation fields that did not parse, one message each. */
  readonly problems: readonly string[];
}

export interface BinaryPackage {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** Multi-Arch: `same`, `foreign`, `allowed` or `no` (the default). */
  readonly multiArch: string;
  readonly provides: readonly Provide[];
  readonly depends: readonly AltGroup[];
  readonly preDepends: readonly AltGroup[];
  /** Source package name and version (the Source field, defaulting to the package's own). */
  readonly source: string;
  readonly sourceVersion: string;
  /** Path relative to the mirror base. */
  readonly filename: string;
  readonly sha256: string;
  readonly size: number;
  readonly problems: readonly string[];
  /**
   * The base url of the extra repository the binary comes from (`X-Kiln-Mirror`, which
   * kiln adds when it merges an extra repository's index: extra-repos.ts); undefined for
   * the suite's own mirror.
   */
  readonly mirror?: string;
}

/** A name-keyed index; several versions of one name may coexist (highest first). */
export interface PackageIndex<T extends { readonly package: string; readonly version: string }> {
  readonly all: readonly T[];
  /** Every version of `name`, highest first. */
  versions(name: string): readonly T[];
  /** `name` (the highest version) or `name=version`. */
  lookup(spec: string): T | undefined;
}

export function parseSources(text: string, source: string): PackageIndex<SourcePackage> {
  const all: SourcePackage[] = [];
  for (const p of iterateDeb822(text, { source })) all.push(sourceFromParagraph(p, source));
  return makeIndex(all);
}

export function parsePackages(text: string, source: string): PackageIndex<BinaryPackage> {
  const all: BinaryPackage[] = [];
  for (const p of iterateDeb822(text, { source })) all.push(binaryFromParagraph(p, source));
  return makeIndex(all);
}

/** A reader of a paragraph's relation fields; what does not parse goes to `problems`, naming the field. */
function relationReader(p: Paragraph, problems: string[]): (field: string) => AltGroup[] {
  return (field) => {
    const v = folded(p.fields.get(field.toLowerCase()));
    if (v === undefined || v === '') return [];
    const r = parseRelations(v);
    for (const e of r.errors) problems.push(`${field}: ${e}`);
    return r.groups;
  };
}

export function sourceFromParagraph(p: Paragraph, source: string): SourcePackage {
  const f = p.fields;
  const name = required(p, 'Package', source);
  const problems: string[] = [];
  const rel = relationReader(p, problems);
  return {
    package: name,
    version: required(p, 'Version', source),
    binaries: (folded(f.get('binary')) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    architecture: words(f.get('architecture')),
    buildDepends: rel('Build-Depends'),
    buildDependsArch: rel('Build-Depends-Arch'),
    buildDependsIndep: rel('Build-Depends-Indep'),
    buildConflicts: rel('Build-Conflicts'),
    buildConflictsArch: rel('Build-Conflicts-Arch'),
    buildConflictsIndep: rel('Build-Conflicts-Indep'),
    directory: required(p, 'Directory', source),
    files: checksums(f.get('checksums-sha256'), `${source}:${p.line} (${name})`),
    problems,
  };
}

export function binaryFromParagraph(p: Paragraph, source: string): BinaryPackage {
  const f = p.fields;
  const name = required(p, 'Package', source);
  const version = required(p, 'Version', source);
  const problems: string[] = [];
  const rel = relationReader(p, problems);
  let provides: Provide[] = [];
  const pv = folded(f.get('provides'));
  if (pv !== undefined && pv !== '') {
    const r = parseProvides(pv);
    provides = r.provides;
    for (const e of r.errors) problems.push(`Provides: ${e}`);
  }
  // `Source: name (version)` when the source version differs from the binary's.
  const src = /^(\S+)(?:\s+\((\S+)\))?$/.exec(f.get('source') ?? '');
  const sha = required(p, 'SHA256', source);
  const size = required(p, 'Size', source);
  if (!/^[0-9a-f]{64}$/.test(sha) || !/^\d+$/.test(size)) {
    throw new KilnError(INDEX_INVALID, `${source}:${p.line}: ${name} ${version} has a bad SHA256 or Size`, { hint: 'the mirror may be broken: try another mirror' });
  }
  return {
    package: name,
    version,
    architecture: required(p, 'Architecture', source),
    multiArch: f.get('multi-arch') ?? 'no',
    provides,
    depends: rel('Depends'),
    preDepends: rel('Pre-Depends'),
    source: src?.[1] ?? name,
    sourceVersion: src?.[2] ?? version,
    filename: required(p, 'Filename', source),
    sha256: sha,
    size: Number(size),
    problems,
    ...(f.has(EXTRA_MIRROR_FIELD) ? { mirror: f.get(EXTRA_MIRROR_FIELD)! } : {}),
  };
}

/** The field kiln adds to an extra repository's stanzas in a merged Packages index (lower case, as fields are read). */
export const EXTRA_MIRROR_FIELD = 'x-kiln-mirror';

/**
 * The lines `HASH size name` of a checksum field (Checksums-Sha256, Checksums-Sha1, Files),
 * each hash `hexLength` lowercase hex digits and each name a plain file name; `bad` makes
 * the error of a line that is not (pure).
 */
export function checksumEntries(value: string | undefined, hexLength: number, bad: (line: string) => Error): { hash: string; size: number; name: string }[] {
  const out: { hash: string; size: number; name: string }[] = [];
  for (const line of multilineLines(value)) {
    const parts = words(line);
    if (parts.length === 0) continue;
    const [hash, size, name, ...rest] = parts;
    if (hash === undefined || size === undefined || name === undefined || rest.length > 0 || hash.length !== hexLength ||
      !/^[0-9a-f]+$/.test(hash) || !/^\d+$/.test(size) || name.includes('/') || name.startsWith('.')) throw bad(line);
    out.push({ hash, size: Number(size), name });
  }
  return out;
}

/** Checksums-Sha256 lines: `sha256 size name`. */
export function checksums(value: string | undefined, where: string): SourceFile[] {
  const bad = (line: string): KilnError => new KilnError(INDEX_INVALID, `${where}: bad Checksums-Sha256 line ${JSON.stringify(line)}`, {
    hint: 'the index or .dsc is malformed: try another mirror',
  });
  const out = checksumEntries(value, 64, bad).map((e): SourceFile => ({ name: e.name, sha256: e.hash, size: e.size }));
  if (out.length === 0) {
    throw new KilnError(INDEX_INVALID, `${where}: no Checksums-Sha256 field`, { hint: 'the index or .dsc is malformed: try another mirror' });
  }
  return out;
}

function makeIndex<T extends { readonly package: string; readonly version: string }>(all: T[]): PackageIndex<T> {
  const byName = new Map<string, T[]>();
  for (const p of all) {
    const list = byName.get(p.package);
    if (list === undefined) byName.set(p.package, [p]);
    else list.push(p);
  }
  for (const list of byName.values()) if (list.length > 1) list.sort((a, b) => compareVersions(b.version, a.version));
  const versions = (name: string): readonly T[] => byName.get(name) ?? [];
  return {
    all,
    versions,
    lookup(spec) {
      const eq = spec.indexOf('=');
      if (eq === -1) return versions(spec)[0];
      const name = spec.slice(0, eq);
      const version = spec.slice(eq + 1);
      const list = versions(name);
      return list.find((p) => p.version === version) ?? list.find((p) => compareVersions(p.version, version) === 0);
    },
  };
}
