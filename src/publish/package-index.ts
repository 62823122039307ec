// The package index: a JSON list of every artifact a run published, for tools and the
// repository step (pkgsrc's pkg_summary: each package's summary and license too, to
// filter by). Written atomically so a reader never sees half an index. A restricted
// package (recipe key `restricted`) is never in it (run/update-index.ts).

import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWrite } from '../lib/atomic-write.ts';

export interface PackageIndexEntry {
  readonly name: string;
  readonly version: string;
  /** The recipe's release (an integer, as in recipe.toml). */
  readonly release: number;
  readonly arch: string;
  /** The recipe's one-line summary; absent for a Debian source package's artifact. */
  readonly summary?: string;
  /** The recipe's license (as written: an SPDX expression, or a name); absent for a Debian source package's artifact. */
  readonly license?: string;
  readonly depends: readonly string[];
  readonly provides: readonly string[];
  /** Bytes of the artifact file. */
  readonly size: number;
  readonly sha256: string;
  /** Where the artifact is, as the lead's publish step names it (relative to the index or absolute). */
  readonly path: string;
  /** The same archive under packages/, relative to the index (`All/zlib_1.2.13-1_amd64.tar.zst`); absent for a package that installs nothing. */
  readonly file?: string;
  /** The category folder of the tree its recipe is in (`libs` for libs/zlib), when it has one: `kiln rootfs 'libs/*'`. */
  readonly category?: string;
}

export interface PackageIndex {
  /** ISO 8601. */
  readonly generatedAt: string;
  /** Sorted by name, then arch (then version, release, path, for a stable file). */
  readonly packages: readonly PackageIndexEntry[];
}

export async function writePackageIndex(
  path: string,
  entries: readonly PackageIndexEntry[],
  options: { now?: Date } = {},
): Promise<PackageIndex> {
  const packages = entries
    // Fixed key order, and copies: the file's shape does not depend on how callers built entries.
    .map((e) => ({
      name: e.name,
      version: e.version,
      release: e.release,
      arch: e.arch,
      ...(e.summary === undefined ? {} : { summary: e.summary }),
      ...(e.license === undefined ? {} : { license: e.license }),
      depends: [...e.depends],
      provides: [...e.provides],
      size: e.size,
      sha256: e.sha256,
      path: e.path,
      ...(e.file === undefined ? {} : { file: e.file }),
      ...(e.category === undefined ? {} : { category: e.category }),
    }))
    .sort(
      (a, b) =>
        cmp(a.name, b.name) || cmp(a.arch, b.arch) || cmp(a.version, b.version) ||
        a.release - b.release || cmp(a.path, b.path),
    );
  const index: PackageIndex = { generatedAt: (options.now ?? new Date()).toISOString(), packages };
  await mkdir(dirname(path), { recursive: true });
  await atomicWrite(path, `${JSON.stringify(index, null, 2)}\n`);
  return index;
}

// Code-point order, not locale order: the same index on every machine.
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
