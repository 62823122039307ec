// PackageSpec builders for plan/schedule tests: relations are written as recipe text
// ("zlib (>= 1.2) | libz") and parsed with the real relation parser, so a test reads
// like the recipe it stands for. A typo in a relation throws at once.

import { parseProvides, parseRelations } from '../../src/debian/relation.ts';
import type { AltGroup, Provide } from '../../src/debian/relation-types.ts';
import type { InvalidPackage, PackageSpec } from '../../src/plan/spec.ts';

export interface SpecOptions {
  readonly version?: string;
  readonly archs?: readonly string[];
  /** One relation item (with optional alternatives) per string. */
  readonly bdeps?: readonly string[];
  readonly deps?: readonly string[];
  readonly provides?: readonly string[];
  readonly cpus?: number;
  readonly memoryBytes?: number;
  readonly recipeHash?: string;
  readonly sourcesHash?: string;
  readonly env?: string;
}

export function relations(items: readonly string[]): AltGroup[] {
  const out: AltGroup[] = [];
  for (const item of items) {
    const r = parseRelations(item);
    if (r.errors.length > 0) throw new Error(`bad relation in test: ${r.errors.join('; ')}`);
    out.push(...r.groups);
  }
  return out;
}

export function provides(items: readonly string[]): Provide[] {
  const out: Provide[] = [];
  for (const item of items) {
    const r = parseProvides(item);
    if (r.errors.length > 0) throw new Error(`bad provides in test: ${r.errors.join('; ')}`);
    out.push(...r.provides);
  }
  return out;
}

export function spec(name: string, o: SpecOptions = {}): PackageSpec {
  return {
    name,
    version: o.version ?? '1.0',
    release: 1,
    summary: `${name} for tests`,
    license: 'MIT',
    archs: o.archs ?? ['any'],
    buildDepends: relations(o.bdeps ?? []),
    depends: relations(o.deps ?? []),
    provides: provides(o.provides ?? []),
    sources: [],
    build: { script: 'true', cpus: o.cpus ?? 1, memoryBytes: o.memoryBytes ?? 512 * 1024 * 1024, timeoutMs: undefined, silentTimeoutMs: undefined },
    dir: `/tree/${name}`,
    file: `/tree/${name}/recipe.toml`,
    recipeHash: o.recipeHash ?? `recipe-of-${name}`,
    sourcesHash: o.sourcesHash ?? `sources-of-${name}`,
    env: o.env,
  };
}

/** A package whose recipe did not parse, with one diagnostic. */
export function invalid(name: string, message = 'build.cpus: expected a whole number, got "two"'): InvalidPackage {
  return { name, dir: `/tree/${name}`, diagnostics: [{ file: `/tree/${name}/recipe.toml`, message }] };
}

/**
 * A synthetic tree of `n` packages for scale tests: a few roots that almost everything
 * needs, 20 chains of 100 build-depending on each other (each chain link also depends at
 * run time on the previous one, so staging closures get long), a wide middle that
 * build-depends on roots, a chain link and an earlier middle package (through an
 * alternative and a versioned relation), and a top layer needing five middle packages
 * and a virtual name. Deterministic.
 */
export function syntheticTree(n: number): PackageSpec[] {
  let seed = 42;
  const rand = (k: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % k;
  };
  const specs: PackageSpec[] = [];
  const roots = ['libc', 'zlib', 'openssl', 'glib', 'perl'];
  for (const r of roots) specs.push(spec(r, { deps: r === 'libc' ? [] : ['libc'] }));
  const chains: string[][] = [];
  for (let c = 0; c < 20; c++) {
    const chain: string[] = [];
    for (let i = 0; i < 100; i++) {
      const name = `chain${c}-${i}`;
      const prev = chain[i - 1];
      specs.push(spec(name, { bdeps: [prev ?? roots[c % roots.length]!], deps: [prev ?? 'libc'] }));
      chain.push(name);
    }
    chains.push(chain);
  }
  const middle: string[] = [];
  const middleCount = Math.floor((n - specs.length) * 0.8);
  for (let i = 0; i < middleCount; i++) {
    const bdeps = new Set([roots[rand(5)]!, roots[rand(5)]!, chains[rand(20)]![rand(100)]!]);
    if (middle.length > 0) bdeps.add(`${middle[rand(middle.length)]!} (>= 1.0) | nonexistent`);
    const deps = [roots[rand(5)]!];
    if (middle.length > 0) deps.push(middle[rand(middle.length)]!);
    const name = `mid${i}`;
    specs.push(spec(name, { bdeps: [...bdeps], deps, provides: [`virt-${i % 50}`] }));
    middle.push(name);
  }
  for (let i = 0; specs.length < n; i++) {
    const bdeps = new Set<string>();
    for (let k = 0; k < 5; k++) bdeps.add(middle[rand(middle.length)]!);
    bdeps.add(`virt-${rand(50)}`);
    specs.push(spec(`top${i}`, { bdeps: [...bdeps] }));
  }
  return specs;
}
