// The archive components a Debian run reads (sbuild's and pbuilder's COMPONENTS): main by
// default, or the list --components / debian.toml's components gives, in order. Sources
// are looked up in each in turn (the first component that has a name is where it comes
// from); the binary indexes of every listed component feed dependency resolution (dose,
// the input keys, and apt in the sandbox, which reads the run's Packages index as a flat
// repository). Pure: the fetching is suite-indexes.ts's.

import { KilnError } from '../errors.ts';
import type { SourcePackage } from './sources-index.ts';
import { closestName } from './closest-name.ts';
import type { LazyIndex } from './lazy-index.ts';
import type { InputOrigin } from './suite-indexes.ts';

/** The components of a run that names none. */
export const DEFAULT_COMPONENTS: readonly string[] = ['main'];

/** A component name as apt's sources.list takes it (the security archive's `updates/main` included). */
export const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/**
 * `--components main,contrib`: component names, each once, in the order given; a trailing
 * comma is fine, an empty item in the middle is not (as --arch) (pure).
 */
export function parseComponentList(text: string, flag = '--components'): string[] {
  const items = text.trim().replace(/,$/, '').split(',').map((c) => c.trim());
  if (items.includes('') && items.some((c) => c !== '')) {
    throw new KilnError('usage', `${flag}: "${text}" has an empty item`, { hint: `remove the extra comma: ${[...new Set(items.filter((c) => c !== ''))].join(',')}; ${COMPONENTS_HINT}` });
  }
  const list = [...new Set(items.filter((c) => c !== ''))];
  if (list.length === 0) throw new KilnError('usage', `${flag}: give at least one component, e.g. ${flag} main,contrib`, { hint: COMPONENTS_HINT });
  const bad = list.find((c) => !COMPONENT_NAME.test(c));
  if (bad !== undefined) throw new KilnError('usage', `${flag}: "${bad}" is not an archive component name`, { hint: COMPONENTS_HINT });
  return list;
}

export const COMPONENTS_HINT = 'archive components, comma-separated, in the order sources are looked up: main, contrib, non-free, non-free-firmware (e.g. --components main,contrib)';

/**
 * The components of the run that the suite's Release does not list, as an error naming
 * where they were given and the ones the Release lists; undefined when all are there
 * (a Release that lists none is taken at its word for any, as apt does) (pure).
 */
export function unknownComponents(components: readonly string[], listed: readonly string[], o: { suite: string; url: string; origin: InputOrigin }): KilnError | undefined {
  const missing = components.filter((c) => !hasComponent(listed, c));
  if (missing.length === 0) return undefined;
  const near = missing.flatMap((c) => {
    const n = closestName(c, listed.map((x) => x.split('/').pop()!));
    return n === undefined ? [] : [`"${n}"`];
  });
  return new KilnError(o.origin.code, `${o.origin.where}: ${o.suite} has no component ${missing.map((c) => `"${c}"`).join(', ')} (${o.url} lists ${listed.join(' ')})`, {
    hint: `${near.length === 0 ? '' : `did you mean ${near.join(', ')}? `}name components the suite's Release lists, in the order sources are looked up`,
  });
}

/**
 * Whether a Release's Components has `c`, as apt reads it: by its name, or as the last part
 * of one (the security archive lists `updates/main` and serves `main/binary-ARCH/`); a
 * Release that lists none is taken at its word for any (pure).
 */
export function hasComponent(components: readonly string[], c: string): boolean {
  return components.length === 0 || components.includes(c) || components.some((x) => x.endsWith(`/${c}`));
}

/** The source index of one component of the run. */
export interface ComponentSources {
  readonly component: string;
  readonly index: LazyIndex<SourcePackage>;
}

/** The run's source indexes as one, each name from the first component that has it, and which that is. */
export interface LayeredSources extends LazyIndex<SourcePackage> {
  /** The component `name` is taken from (undefined: none of them has it). */
  componentOf(name: string): string | undefined;
  /** The components looked in, in order. */
  readonly components: readonly string[];
}

/**
 * The components' Sources as one index: names in component order (each once), and every
 * lookup of a name answered by the first component that has it, as sbuild/apt-get source
 * would take it from the first listed (pure: the indexes are read lazily as they are).
 */
export function layeredSources(layers: readonly ComponentSources[]): LayeredSources {
  if (layers.length === 1) {
    const only = layers[0]!;
    return { ...only.index, components: [only.component], componentOf: (name) => (only.index.raw(name).length > 0 ? only.component : undefined) };
  }
  const first = (name: string): ComponentSources | undefined => layers.find((l) => l.index.raw(name).length > 0);
  let names: string[] | undefined;
  return {
    components: layers.map((l) => l.component),
    componentOf: (name) => first(name)?.component,
    names() {
      if (names === undefined) {
        const seen = new Set<string>();
        names = [];
        for (const l of layers) for (const n of l.index.names()) if (!seen.has(n)) seen.add(n), names.push(n);
      }
      return names;
    },
    versions: (name) => first(name)?.index.versions(name) ?? [],
    raw: (name) => first(name)?.index.raw(name) ?? [],
    stanza: (name, version) => first(name)?.index.stanza(name, version),
  };
}

/** The Packages texts of the components of one arch as one index: each in turn, blank-line separated (pure). */
export function joinPackages(texts: readonly string[]): string {
  const parts = texts.map((t) => t.replace(/\n*$/, '')).filter((t) => t !== '');
  return parts.length === 0 ? '' : `${parts.join('\n\n')}\n`;
}
