// The check of an extracted tree itself, after GNU tar made it: every symlink in it must
// resolve inside it, followed through the links that are really there. The members are
// checked before extraction too (tar-scan.ts), but that reads the archive with kiln's own
// parser, and an archive can be made that GNU tar reads otherwise (a number field with a
// leading NUL, pax records spelled as only tar accepts them, a gzip header that is also a
// tar header): what is on disk is what tar made, so this check is the one that holds.
// A link that leads out is refused, naming it; the caller removes the tree, as on any
// error of the extraction.

import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { walkLinks } from './link-walk.ts';

export interface ExtractedTreeRules {
  /**
   * Absolute link targets: `refuse` (a bundle: outside a chroot `/etc` is the host's) or
   * `root` (a root filesystem: inside its chroot `/usr/lib` is its own, resolved from it).
   */
  readonly absolute: 'refuse' | 'root';
  /** Device nodes are allowed only under this folder of the tree (`dev`); none when undefined. */
  readonly devicesUnder?: string;
}

/** Why `root` may not be used as extracted, naming the path in it; undefined when every link stays inside. */
export function extractedTreeProblem(root: string, rules: ExtractedTreeRules): string | undefined {
  const stack: string[][] = [[]];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const e of readdirSync(join(root, ...dir), { withFileTypes: true })) {
      const rel = [...dir, e.name];
      if (e.isDirectory()) {
        stack.push(rel);
      } else if (e.isSymbolicLink()) {
        let target: string;
        try {
          target = readlinkSync(join(root, ...rel));
        } catch {
          // Read back under another name than tar wrote (a name that is not UTF-8): unknowable, refused.
          return `symlink "${rel.join('/')}" cannot be read back by its name (a name that is not UTF-8?)`;
        }
        if (target.startsWith('/') && rules.absolute === 'refuse') return `symlink "${rel.join('/')}" -> "${target}" points outside (an absolute target)`;
        if (resolveOnDisk(root, dir, target, rules.absolute === 'root') === undefined) return `symlink "${rel.join('/')}" -> "${target}" points outside the tree (as extracted, through the links in it)`;
      } else if (e.isCharacterDevice() || e.isBlockDevice()) {
        if (rules.devicesUnder === undefined || rel[0] !== rules.devicesUnder) return `"${rel.join('/')}" is a device node${rules.devicesUnder === undefined ? '' : ` outside ${rules.devicesUnder}/`}`;
      }
    }
  }
  return undefined;
}

/**
 * Where `target`, read from the folder `dir` of `root` (path parts), leads, following the
 * links that are on disk (link-walk.ts; an absolute one from the root when
 * `absoluteFromRoot`, else it is outside); a part that does not exist ends the lookups.
 */
export function resolveOnDisk(root: string, dir: readonly string[], target: string, absoluteFromRoot: boolean): string[] | undefined {
  return walkLinks(dir, target, (parts) => {
    const path = join(root, ...parts);
    try {
      return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
    } catch {
      return null;
    }
  }, absoluteFromRoot);
}
