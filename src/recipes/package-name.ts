// What a package's name (its folder's name, a flavour's name) may be: the characters, the
// length, and what a folder name must not hold at all. Pure, and light (no zod): the tree
// scan checks folder names before it loads the recipe parser.

/** Lowercase letters, digits and + . -, starting with a letter or digit (Debian's rule). */
export const PACKAGE_NAME_RE = /^[a-z0-9][a-z0-9+.-]*$/;

/**
 * The longest package name, in characters (bytes: a valid name is ASCII). A job's files are
 * named after it: the log `NAME_ARCH.log`, compressed to `NAME_ARCH.log.zst` through a
 * temporary `.NAME_ARCH.log.zst.tmp-PID-XXXXXXXX` (54 bytes besides the name with the longest
 * arch name, 23), the artifact handed out as `NAME_VERSION_ARCH.tar.zst`, the published
 * `NAME_VERSION-RELEASE_ARCH.tar.zst`, and a Debian file name may have 255 bytes at most.
 * 128 leaves room for all of that with a version of ordinary length (Debian's longest
 * package names are well under 100 characters).
 */
export const MAX_PACKAGE_NAME_LENGTH = 128;

/** Why `name` (valid by PACKAGE_NAME_RE) is too long for a package, or undefined. */
export function nameLengthProblem(name: string): string | undefined {
  if (name.length <= MAX_PACKAGE_NAME_LENGTH) return undefined;
  return `is ${name.length} characters long: a package name may have at most ${MAX_PACKAGE_NAME_LENGTH} (its log and artifact file names are made from it and must fit the file system's 255 bytes)`;
}

/**
 * Control characters (a line break, a tab, an escape sequence's ESC, C1 controls) and the
 * Unicode line separators and bidirectional-text controls: printed raw, they would let a
 * folder's name forge or reorder lines of kiln's output.
 */
const UNPRINTABLE_RE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Whether a folder's name holds a character that must never be printed raw (UNPRINTABLE_RE). */
export function hasUnprintable(name: string): boolean {
  return UNPRINTABLE_RE.test(name);
}
