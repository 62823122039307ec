// A Packages or Sources index opened lazily: one pass splits the text into stanzas and
// files them by name (and, for binaries, by what they provide); a stanza is parsed only
// when asked for. Planning a handful of sources against a whole suite (63k binaries,
// 34k sources) then costs one string scan, not 100k deb822 parses.

import { firstParagraph } from './deb822.ts';
import { parseProvides } from './relation.ts';
import { binaryFromParagraph, sourceFromParagraph, type BinaryPackage, type SourcePackage } from './sources-index.ts';
import { compareVersions } from './version.ts';

export interface LazyIndex<T> {
  /** Every name in the index, in index order (each once). */
  names(): readonly string[];
  /** Every version of `name`, highest first. */
  versions(name: string): readonly T[];
  /** The raw stanzas of `name` (for writing a reduced index). */
  raw(name: string): readonly string[];
  /** The raw stanza of `name` at `version` (the first in index order), if any. */
  stanza(name: string, version: string): string | undefined;
}

export interface BinaryUniverse extends LazyIndex<BinaryPackage> {
  /** Packages that provide `name`, with the provided version if any. */
  providers(name: string): readonly { readonly pkg: BinaryPackage; readonly version: string | undefined }[];
  /** Names of Essential: yes packages. */
  essential(): readonly string[];
}

interface Stanzas {
  readonly order: string[];
  readonly byName: Map<string, string[]>;
}

/** Calls `each` with every stanza of an index that names a Package, in order (one scan, no parse). */
export function forEachStanza(text: string, each: (name: string, stanza: string) => void): void {
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && text.charCodeAt(i) === 10) i++;
    if (i >= n) break;
    let end = text.indexOf('\n\n', i);
    if (end === -1) end = n;
    const stanza = text.slice(i, end);
    i = end + 2;
    let name: string | undefined;
    if (stanza.startsWith('Package:')) {
      const nl = stanza.indexOf('\n');
      name = stanza.slice(8, nl === -1 ? undefined : nl).trim();
    } else {
      const m = /^Package:[ \t]*(\S+)/m.exec(stanza);
      name = m?.[1];
    }
    if (name === undefined || name === '') continue;
    each(name, stanza);
  }
}

function split(text: string, onStanza?: (name: string, stanza: string) => void): Stanzas {
  const order: string[] = [];
  const byName = new Map<string, string[]>();
  forEachStanza(text, (name, stanza) => {
    const list = byName.get(name);
    if (list === undefined) {
      byName.set(name, [stanza]);
      order.push(name);
    } else list.push(stanza);
    onStanza?.(name, stanza);
  });
  return { order, byName };
}

/** The value of a (possibly folded) field of a raw stanza, or undefined. */
export function rawField(stanza: string, field: string): string | undefined {
  const at = stanza.startsWith(`${field}:`) ? 0 : stanza.indexOf(`\n${field}:`);
  if (at === -1) return undefined;
  const start = at === 0 ? field.length + 1 : at + field.length + 2;
  let end = stanza.indexOf('\n', start);
  while (end !== -1 && (stanza.charCodeAt(end + 1) === 32 || stanza.charCodeAt(end + 1) === 9)) end = stanza.indexOf('\n', end + 1);
  return stanza.slice(start, end === -1 ? undefined : end).replace(/\n[ \t]+/g, ' ').trim();
}

function lazy<T extends { readonly version: string }>(s: Stanzas, parse: (stanza: string) => T): LazyIndex<T> {
  // Per name: the parsed versions, highest first, and their stanzas in the same order.
  const parsed = new Map<string, { list: T[]; raws: readonly string[] }>();
  const load = (name: string): { list: T[]; raws: readonly string[] } => {
    let e = parsed.get(name);
    if (e === undefined) {
      const raws = s.byName.get(name) ?? [];
      const list = raws.map(parse);
      if (list.length <= 1) e = { list, raws };
      else {
        // A stable sort of positions: equal versions keep index order.
        const at = list.map((_, i) => i).sort((a, b) => compareVersions(list[b]!.version, list[a]!.version));
        e = { list: at.map((i) => list[i]!), raws: at.map((i) => raws[i]!) };
      }
      parsed.set(name, e);
    }
    return e;
  };
  return {
    names: () => s.order,
    raw: (name) => s.byName.get(name) ?? [],
    versions: (name) => load(name).list,
    stanza(name, version) {
      const e = load(name);
      const i = e.list.findIndex((p) => p.version === version);
      return i === -1 ? undefined : e.raws[i];
    },
  };
}

export function lazySources(text: string, source: string): LazyIndex<SourcePackage> {
  return lazy(split(text), (stanza) => {
    const p = firstParagraph(stanza, { source });
    if (p === undefined) throw new Error(`internal: empty stanza in ${source}`);
    return sourceFromParagraph(p, source);
  });
}

export function lazyPackages(text: string, source: string): BinaryUniverse {
  const provided = new Map<string, { name: string; stanza: string; version: string | undefined }[]>();
  const essential: string[] = [];
  const s = split(text, (name, stanza) => {
    const prov = rawField(stanza, 'Provides');
    if (prov !== undefined) {
      for (const p of parseProvides(prov).provides) {
        const list = provided.get(p.name);
        const entry = { name, stanza, version: p.version };
        if (list === undefined) provided.set(p.name, [entry]);
        else list.push(entry);
      }
    }
    if (rawField(stanza, 'Essential') === 'yes') essential.push(name);
  });
  const parse = (stanza: string): BinaryPackage => {
    const p = firstParagraph(stanza, { source });
    if (p === undefined) throw new Error(`internal: empty stanza in ${source}`);
    return binaryFromParagraph(p, source);
  };
  const base = lazy(s, parse);
  const providerCache = new Map<string, { pkg: BinaryPackage; version: string | undefined }[]>();
  return {
    ...base,
    essential: () => [...new Set(essential)],
    providers(name) {
      let list = providerCache.get(name);
      if (list === undefined) {
        list = (provided.get(name) ?? []).map((e) => {
          const v = rawField(e.stanza, 'Version');
          return { pkg: base.versions(e.name).find((p) => p.version === v) ?? parse(e.stanza), version: e.version };
        });
        providerCache.set(name, list);
      }
      return list;
    },
  };
}
