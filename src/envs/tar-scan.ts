// Read the member list of a tar stream (ustar, GNU and pax headers; data is skipped) and
// judge whether extracting it could write outside the target directory. Used before GNU
// tar extracts an imported root tarball, so that a hostile archive is refused whole and
// nothing of it is written at all.
//
// The rules (checkMembers), for a root filesystem:
// - no absolute member names and no `..` components;
// - no member below a path that the archive makes a symlink (symlink-then-write);
// - relative symlink targets must stay inside the root, resolved from the link's directory
//   (absolute targets are fine: inside the root's chroot they point into the root, and no
//   member may be written through a symlink anyway);
// - hardlinks must name a regular member that came earlier, inside the root;
// - device nodes only under dev/; no member types GNU tar and this reader might disagree
//   on (sparse, multi-volume, dumpdir), and no data on link, device, dir or fifo entries,
//   for the same reason: both readers must see the very same list.

import { walkLinks } from './link-walk.ts';
import { KilnError } from '../errors.ts';
import { parsePax, tarChecksumOk as checksumOk, tarNumber as numeric, tarString as cstr } from '../lib/tar-header.ts';
import { ENV_ERRORS } from './env-errors.ts';

export type MemberType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarMember {
  /** As stored, after pax/GNU long-name overrides. */
  readonly name: string;
  readonly type: MemberType;
  readonly linkName: string;
  readonly size: number;
}

const TYPES: Record<string, MemberType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink',
  '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
const NO_DATA = new Set(['1', '2', '3', '4', '5', '6']);

export function unsafe(file: string, why: string): KilnError {
  return new KilnError(ENV_ERRORS.unsafe, `${file}: refused: ${why}; nothing was extracted`, {
    hint: 'the archive is malformed or malicious; check where it came from',
  });
}

/** Parse the members of an uncompressed tar stream. Throws on a malformed header. */
export async function readTarMembers(stream: AsyncIterable<Buffer | string>, file: string): Promise<TarMember[]> {
  const members: TarMember[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let skip = 0; // data bytes (with padding) still to skip
  let collect: { kind: string; size: number; padded: number } | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  // A pax global header's keywords hold for every member after it (GNU tar applies its
  // path, linkpath and size too): read as tar will, or a link's target could differ.
  const globalPax = new Map<string, string>();
  let ended = false;
  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (ended) break;
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        buf = buf.subarray(n);
        skip -= n;
        if (skip > 0) break;
      }
      if (collect !== undefined) {
        if (buf.length < collect.padded) break;
        const data = buf.subarray(0, collect.size);
        if (collect.kind === 'L') longName = cstr(data, 0, data.length);
        else if (collect.kind === 'K') longLink = cstr(data, 0, data.length);
        else if (collect.kind === 'x') pax = parsePax(data);
        else if (collect.kind === 'g') for (const [k, v] of parsePax(data)) globalPax.set(k, v);
        buf = buf.subarray(collect.padded);
        collect = undefined;
        continue;
      }
      if (buf.length < 512) break;
      const h = buf.subarray(0, 512);
      buf = buf.subarray(512);
      if (h.every((b) => b === 0)) {
        ended = true;
        break;
      }
      if (!checksumOk(h)) throw unsafe(file, `member ${members.length + 1} has a bad tar header checksum (not a tar archive, or corrupt)`);
      const flag = String.fromCharCode(h[156] ?? 0);
      const size = numeric(h, 124, 12);
      const padded = Math.ceil(size / 512) * 512;
      if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
        if (size > 1 << 20) throw unsafe(file, `a ${flag} header of ${size} bytes`);
        collect = { kind: flag, size, padded };
        continue;
      }
      const type = TYPES[flag];
      if (type === undefined) throw unsafe(file, `member type "${flag}" (sparse, multi-volume or unknown) is not supported in a root tarball`);
      const ustar = h.subarray(257, 263).toString('latin1') === 'ustar\0';
      const prefix = ustar ? cstr(h, 345, 155) : '';
      const baseName = cstr(h, 0, 100);
      const name = pax.get('path') ?? longName ?? globalPax.get('path') ?? (prefix === '' ? baseName : `${prefix}/${baseName}`);
      const linkName = pax.get('linkpath') ?? longLink ?? globalPax.get('linkpath') ?? cstr(h, 157, 100);
      const sizeWord = pax.get('size') ?? globalPax.get('size');
      const realSize = sizeWord !== undefined ? Number(sizeWord) : size;
      if (NO_DATA.has(flag) && realSize !== 0) throw unsafe(file, `${name}: a ${type} member that carries ${realSize} bytes of data`);
      members.push({ name, type, linkName, size: realSize });
      longName = undefined;
      longLink = undefined;
      pax = new Map();
      skip = NO_DATA.has(flag) ? 0 : Math.ceil(realSize / 512) * 512;
    }
  }
  if (!ended && members.length === 0 && skip === 0 && collect === undefined) {
    // Less than one header: a tar archive never is.
    throw new KilnError(ENV_ERRORS.unsafe, `${file}: refused: not a tar archive (it ends before a first tar header); nothing was extracted`, {
      hint: 'give a tar archive (compressed or not); check the file is the one meant',
    });
  }
  if (!ended && (skip > 0 || collect !== undefined)) {
    throw unsafe(file, 'the tar stream ends in the middle of a member (truncated archive?)');
  }
  return members;
}

/** `./a//b/` → `a/b`; `/etc` stays absolute (`/etc`); `.` → `` (the root itself). */
export function normalizeMemberPath(name: string): string {
  const abs = name.startsWith('/');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return (abs ? '/' : '') + parts.join('/');
}

/** Resolve a relative link target lexically from `dir`; undefined when it climbs above the root. */
export function resolveInside(dir: string, target: string): string | undefined {
  const out = dir === '' ? [] : dir.split('/');
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else {
      out.push(p);
    }
  }
  return out.join('/');
}

/**
 * Resolve a link target from `dir` as the file system will once the archive is extracted:
 * a step that names another symlink of the archive is replaced by that link's target (an
 * absolute one from the root, as inside a chroot), so that a chain of links that each look
 * inside on their own (`c/l0 -> ..`, `c/l1 -> l0/..`: the second is the root's parent) is
 * seen for what it is. Undefined when it climbs above the root at any step, or goes round
 * more than 40 links (the kernel's ELOOP).
 */
export function resolveThroughLinks(dir: string, target: string, links: ReadonlyMap<string, string>): string | undefined {
  return walkLinks(dir === '' ? [] : dir.split('/'), target, (parts) => links.get(parts.join('/')), true)?.join('/');
}

/** Throws `unsafe-path` naming the first member that could write outside the root. */
export function checkMembers(members: readonly TarMember[], file: string): void {
  const names = members.map((m) => normalizeMemberPath(m.name));
  const symlinks = new Set<string>();
  // Every link of the archive (whatever its place in it: after extraction all are there).
  const linkTargets = new Map<string, string>();
  for (const [i, m] of members.entries()) {
    if (m.type !== 'symlink') continue;
    symlinks.add(names[i] ?? '');
    linkTargets.set(names[i] ?? '', m.linkName);
  }
  const throughSymlink = (p: string): string | undefined => {
    const parts = p.split('/');
    for (let k = 1; k < parts.length; k++) {
      const prefix = parts.slice(0, k).join('/');
      if (symlinks.has(prefix)) return prefix;
    }
    return undefined;
  };
  const checkPath = (p: string, what: string): void => {
    if (p.startsWith('/')) throw unsafe(file, `${what} "${p}" is an absolute path`);
    if (p.split('/').includes('..')) throw unsafe(file, `${what} "${p}" contains ".."`);
    const via = throughSymlink(p);
    if (via !== undefined) throw unsafe(file, `${what} "${p}" would be written through the symlink "${via}" of the same archive`);
  };
  const regular = new Set<string>();
  for (const [i, m] of members.entries()) {
    const p = names[i] ?? '';
    checkPath(p, 'member');
    switch (m.type) {
      case 'symlink': {
        if (m.linkName === '') throw unsafe(file, `symlink "${p}" has an empty target`);
        if (!m.linkName.startsWith('/')) {
          const dir = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
          if (resolveInside(dir, m.linkName) === undefined) {
            throw unsafe(file, `symlink "${p}" -> "${m.linkName}" points outside the root`);
          }
          if (resolveThroughLinks(dir, m.linkName, linkTargets) === undefined) {
            throw unsafe(file, `symlink "${p}" -> "${m.linkName}" points outside the root through other symlinks of the archive (or goes round in a loop of them)`);
          }
        }
        break;
      }
      case 'hardlink': {
        const target = normalizeMemberPath(m.linkName);
        checkPath(target, `hardlink target of "${p}":`);
        if (!regular.has(target)) throw unsafe(file, `hardlink "${p}" -> "${m.linkName}" does not name an earlier file of the archive`);
        regular.add(p);
        break;
      }
      case 'char':
      case 'block':
        if (!p.startsWith('dev/')) throw unsafe(file, `device node "${p}" outside dev/`);
        break;
      case 'file':
        regular.add(p);
        break;
      case 'dir':
      case 'fifo':
        break;
    }
    // A later member of the same name replaces the file on extraction (a symlink over it
    // is what a hard link to that name would then copy): only a file, or a hard link to
    // one, stays one.
    if (m.type !== 'file' && m.type !== 'hardlink') regular.delete(p);
  }
}
