// Where a link target leads inside a root, following the links met on the way: one walk for
// the members of an archive before extraction (tar-scan.ts resolveThroughLinks) and for the
// tree tar made (extracted-tree.ts resolveOnDisk); only how a path is looked up differs.

/** What is at a path of the root: a link (its target), something else (undefined), or nothing there (null: the rest is taken as written). */
export type LinkAt = (parts: readonly string[]) => string | undefined | null;

/**
 * The path parts `target`, read from the folder `dir` of the root, leads to; undefined when
 * it climbs above the root at any step, meets an absolute link and `absoluteFromRoot` is
 * false (outside a chroot it is the host's), or goes round more than 40 links (ELOOP).
 */
export function walkLinks(dir: readonly string[], target: string, linkAt: LinkAt, absoluteFromRoot: boolean): string[] | undefined {
  if (target.startsWith('/') && !absoluteFromRoot) return undefined;
  const out = target.startsWith('/') ? [] : [...dir];
  // Components still to walk, the next first.
  const todo = target.split('/');
  let followed = 0;
  let missing = false;
  while (todo.length > 0) {
    const p = todo.shift()!;
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(p);
    if (missing) continue;
    const link = linkAt(out);
    if (link === null) missing = true;
    if (link === undefined || link === null) continue;
    if (++followed > 40) return undefined;
    out.pop();
    if (link.startsWith('/')) {
      if (!absoluteFromRoot) return undefined;
      out.length = 0;
    }
    todo.unshift(...link.split('/'));
  }
  return out;
}
