// A synthetic package graph shaped like a distribution, for the benchmark: a few roots
// that almost everything needs (libc, zlib…), some long chains (depth ~30, like a
// toolchain bootstrap), a wide middle of libraries with a few popular hubs, and leaves
// (applications) that nothing needs. Deterministic for a given size and seed, so two
// runs (and kiln vs make) build exactly the same graph.

export interface BenchPackage {
  readonly name: string;
  readonly version: string;
  /** Names of the packages it build-depends on, all earlier in the list. */
  readonly deps: readonly string[];
}

export interface BenchGraph {
  /** In a topological order: every package comes after all of its deps. */
  readonly packages: readonly BenchPackage[];
  readonly edges: number;
  /** Packages on the longest dependency path (1 for a package without deps). */
  readonly depth: number;
}

const ROOTS = ['libc', 'zlib', 'libgcc', 'ncurses', 'openssl', 'libffi', 'xz-utils', 'bzip2'];
const CHAIN_LENGTH = 30;

/** mulberry32: tiny, fast, and good enough to shape a graph. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateGraph(count: number, options: { seed?: number } = {}): BenchGraph {
  if (!Number.isInteger(count) || count < 1) throw new Error(`generateGraph: count must be a positive integer, got ${count}`);
  const rand = seededRandom(options.seed ?? 20240601);
  const int = (n: number): number => Math.floor(rand() * n);
  const packages: BenchPackage[] = [];
  const depthOf = new Map<string, number>();
  const add = (name: string, deps: Iterable<string>): void => {
    const unique = [...new Set(deps)];
    packages.push({ name, version: `${1 + int(3)}.${int(20)}.${int(10)}`, deps: unique });
    depthOf.set(name, 1 + Math.max(0, ...unique.map((d) => depthOf.get(d)!)));
  };

  // Roots: libc needs nothing, the others need libc (openssl also zlib).
  const roots = ROOTS.slice(0, Math.min(ROOTS.length, count));
  roots.forEach((name, i) => add(name, i === 0 ? [] : name === 'openssl' ? ['libc', 'zlib'] : ['libc']));
  // libc and zlib are needed far more often than the rest.
  const pickRoot = (): string => {
    const u = rand();
    const i = u < 0.45 ? 0 : u < 0.7 ? 1 : 2 + int(Math.max(1, roots.length - 2));
    return roots[Math.min(i, roots.length - 1)]!;
  };

  // Chains: each link needs the previous one, so the critical path is at least 30 long.
  let left = count - packages.length;
  const chainCount = Math.min(5, Math.floor(left / (CHAIN_LENGTH * 6)));
  const chainTails: string[] = [];
  const chainLinks: string[] = [];
  for (let c = 0; c < chainCount; c++) {
    let prev = pickRoot();
    for (let j = 0; j < CHAIN_LENGTH; j++) {
      const name = `chain${c}-stage${String(j).padStart(2, '0')}`;
      add(name, rand() < 0.3 ? [prev, pickRoot()] : [prev]);
      chainLinks.push(name);
      prev = name;
    }
    chainTails.push(prev);
  }

  // The wide middle: libraries that need roots and earlier libraries. Half the picks
  // favour early libraries strongly (they become hubs like glib or libxml2), half are
  // uniform (which builds depth inside the middle).
  left = count - packages.length;
  const middleCount = Math.floor(left * 0.55);
  const libs: string[] = [];
  const pickLib = (): string | undefined => {
    if (libs.length === 0) return undefined;
    const u = rand();
    return libs[rand() < 0.5 ? Math.floor(libs.length * u * u * u) : Math.floor(libs.length * u)];
  };
  for (let i = 0; i < middleCount; i++) {
    const name = `lib${String(i).padStart(5, '0')}`;
    const want = 1 + Math.floor(rand() * rand() * 6);
    const deps: string[] = [];
    for (let k = 0; k < want; k++) {
      const u = rand();
      const pick = u < 0.35 ? pickRoot() : u < 0.4 && chainLinks.length > 0 ? chainLinks[int(chainLinks.length)] : pickLib();
      deps.push(pick ?? pickRoot());
    }
    add(name, deps);
    libs.push(name);
  }

  // Leaves: applications; nothing depends on them. A few sit on top of a whole chain.
  left = count - packages.length;
  for (let i = 0; i < left; i++) {
    const name = `app${String(i).padStart(5, '0')}`;
    const want = 1 + Math.floor(rand() * rand() * 8);
    const deps: string[] = [];
    for (let k = 0; k < want; k++) {
      const u = rand();
      const pick = u < 0.2 ? pickRoot() : u < 0.22 && chainTails.length > 0 ? chainTails[int(chainTails.length)] : pickLib();
      deps.push(pick ?? pickRoot());
    }
    add(name, deps);
  }

  let edges = 0;
  for (const p of packages) edges += p.deps.length;
  return { packages, edges, depth: Math.max(...depthOf.values()) };
}
