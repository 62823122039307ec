// kiln rootfs: two packages that would write the same path. A directory both ship is
// shared (as dpkg shares it); a file, link or hard link at a path another package also
// ships (as anything) is a conflict: the one unpacked later would silently win; so is a
// path under what another package ships as a link or file (tar would write through the
// link, onto the host for an absolute one). Pure.

import { normalizeMemberPath, type MemberType } from '../envs/tar-scan.ts';

export interface PackageMembers {
  /** The package, as messages name it. */
  readonly name: string;
  readonly members: readonly { readonly name: string; readonly type: MemberType }[];
}

export interface Conflict {
  readonly path: string;
  /** The package that ships it first (in install order), and the next one that does. */
  readonly first: string;
  readonly second: string;
  /** Set when `path` (the second's) lies under this path, which the first ships as a link or a file. */
  readonly under?: string;
}

/**
 * Every path two packages both ship that is not a directory in both (one conflict per path),
 * sorted by path. `reserved` paths (relative, no leading `./`) are files kiln itself writes
 * (owned by `reservedBy`): a package shipping one conflicts with them, as `first`.
 */
export function findConflicts(packages: readonly PackageMembers[], reserved: readonly string[] = [], reservedBy = 'kiln'): Conflict[] {
  const owner = new Map<string, { pkg: string; dir: boolean }>(reserved.map((path) => [path, { pkg: reservedBy, dir: false }]));
  const found = new Map<string, Conflict>();
  for (const p of packages) {
    // A package's own archive lists a path once; a repeat within it is tar's business.
    const seen = new Set<string>();
    for (const m of p.members) {
      const path = normalizeMemberPath(m.name);
      if (path === '' || seen.has(path)) continue;
      seen.add(path);
      const dir = m.type === 'dir';
      const had = owner.get(path);
      if (had === undefined) owner.set(path, { pkg: p.name, dir });
      else if (!(had.dir && dir) && !found.has(path)) found.set(path, { path, first: had.pkg, second: p.name });
    }
  }
  // A path below what a package ships as a link or file: unpacked later, tar would write
  // through the link (one to /usr/lib writes the host's), or fail on the file.
  for (const [path, o] of owner) {
    for (let at = path.indexOf('/'); at > 0; at = path.indexOf('/', at + 1)) {
      const above = owner.get(path.slice(0, at));
      if (above === undefined || above.dir || above.pkg === o.pkg || found.has(path)) continue;
      found.set(path, { path, first: above.pkg, second: o.pkg, under: path.slice(0, at) });
      break;
    }
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
