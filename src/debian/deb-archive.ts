// The archive's copy of a binary package: look up package + version + architecture in a
// suite's Packages index (InRelease verified, index checked against Release: indexes.ts)
// and fetch the .deb through the downloads cache with the sha256 the index lists, so the
// file we compare against is exactly the one the archive signed for.
//
// `pickArchiveBinary` is the pure decision (which entry, or why none); `createArchive`
// does the I/O, fetching each suite's Release and each Packages index once.
import { readFile, stat } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import type { Downloads } from '../cache/downloads.ts';
import { createIndexes } from './indexes.ts';
import type { Indexes, SuiteRelease } from './indexes.ts';
import { lazyPackages } from './lazy-index.ts';
import type { BinaryUniverse } from './lazy-index.ts';
import type { BinaryPackage } from './sources-index.ts';

export interface DebIdentity {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
}

export interface ArchiveBinary {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** Relative to the mirror base, e.g. `pool/main/h/hello/hello_2.10-3_amd64.deb`. */
  readonly filename: string;
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
  /** The index it was found in, for messages: `bookworm main/binary-amd64`. */
  readonly index: string;
}

/**
 * The entry of `versions` (every version of the package in the index) matching `want`,
 * or a not-in-archive error saying what the index has instead (pure).
 */
export function pickArchiveBinary(versions: readonly BinaryPackage[], want: DebIdentity, where: { index: string; mirror: string }): ArchiveBinary {
  const hit = versions.find((p) => p.version === want.version && p.architecture === want.architecture);
  if (hit !== undefined) {
    return {
      package: hit.package, version: hit.version, architecture: hit.architecture,
      filename: hit.filename, url: `${where.mirror}/${hit.filename}`, sha256: hit.sha256, size: hit.size, index: where.index,
    };
  }
  const what = `${want.package} ${want.version} (${want.architecture})`;
  if (versions.length === 0) {
    throw new KilnError('not-in-archive', `${where.index} has no binary package ${want.package}, so ${what} cannot be compared`, {
      hint: want.package.endsWith('-dbgsym')
        ? "Debian publishes -dbgsym packages in its separate debug archive (suite-debug), which kiln verify does not read: verify the package's other .debs"
        : 'name the suite (and component) the package was built for with --suite / --component',
    });
  }
  const has = versions.map((p) => `${p.version} (${p.architecture})`).join(', ');
  throw new KilnError('not-in-archive', `${where.index} has no ${what}: it has ${want.package} ${has}`, {
    hint: 'compare with the suite that has this version (--suite), or rebuild the version the archive has',
  });
}

export interface ArchiveOptions {
  readonly cacheDir: string;
  readonly downloads: Downloads;
  /** Mirror base url (the directory holding dists/ and pool/). */
  readonly mirror: string;
  readonly suite: string;
  /** Looked in, in this order (a run's --components); default main. `component`: one. */
  readonly component?: string;
  readonly components?: readonly string[];
  readonly keyring?: string;
  /** false: the Release is taken past its Valid-Until (a snapshot mirror). */
  readonly checkValidUntil?: false;
  readonly indexes?: Indexes;
}

export interface Archive {
  /** Find `want` in the Packages index of `indexArch` (the deb's arch; for `all`, any arch the suite has). */
  find(want: DebIdentity, indexArch: string, options?: { signal?: AbortSignal }): Promise<ArchiveBinary>;
  /** The verified .deb in the downloads cache. */
  fetch(binary: ArchiveBinary, options?: { signal?: AbortSignal }): Promise<string>;
}

export function createArchive(options: ArchiveOptions): Archive {
  const components = options.components ?? [options.component ?? 'main'];
  const indexes = options.indexes ?? createIndexes({
    cacheDir: options.cacheDir,
    downloads: options.downloads,
    ...(options.keyring === undefined ? {} : { keyring: options.keyring }),
    ...(options.checkValidUntil === false ? { checkValidUntil: false } : {}),
  });
  const mirror = options.mirror.replace(/\/+$/, '');
  let release: Promise<SuiteRelease> | undefined;
  const universes = new Map<string, Promise<BinaryUniverse[]>>();

  /** Each component's Packages of `arch`, in the order they are looked in. */
  const universe = (arch: string, signal: AbortSignal | undefined): Promise<BinaryUniverse[]> => {
    let u = universes.get(arch);
    if (u === undefined) {
      const o = signal === undefined ? {} : { signal };
      release ??= indexes.release(mirror, options.suite, o);
      u = release.then((rel) => Promise.all(components.map(async (component) => {
        const path = await indexes.packages(rel, arch, { component, ...o });
        return lazyPackages(await readFile(path, 'utf8'), `${rel.url} ${component}/binary-${arch}/Packages`);
      })));
      u.catch(() => universes.delete(arch));
      universes.set(arch, u);
    }
    return u;
  };

  return {
    async find(want, indexArch, o = {}) {
      const us = await universe(indexArch, o.signal);
      // The first component that has the package (a package lives in one).
      const i = Math.max(0, us.findIndex((u) => u.versions(want.package).length > 0));
      return pickArchiveBinary(us[i]!.versions(want.package), want, { index: `${options.suite} ${us.length === 1 || us.every((u) => u.versions(want.package).length === 0) ? components.join(', ') : components[i]}/binary-${indexArch}`, mirror });
    },
    async fetch(binary, o = {}) {
      const path = await options.downloads.fetch(binary.url, binary.sha256, o);
      const { size } = await stat(path);
      if (size !== binary.size) {
        throw new KilnError('checksum-mismatch', `${binary.url}: ${binary.index} lists ${binary.size} bytes, the verified file has ${size}`, {
          hint: 'the index and the pool disagree: the mirror may be mid-update; try again later',
        });
      }
      return path;
    },
  };
}
