// The output checks of a recipe build (poudriere's stage-qa, BitBake's insane.bbclass),
// run on what the build installed before it is packed. Pure: the manifest walk gives the
// entries, the ELF headers and the files that hold the build's own paths.
//
//   arch         an arch-specific package's ELF files are for its arch (elf-arch.ts)   error
//   symlinks     an absolute symlink into the build's workspace: it points nowhere once
//                installed                                                             error
//   buildpaths   files that hold the paths the build ran at ($SRCDIR, $DESTDIR,
//                (an error for files installed under a path that names them)
//                $SYSROOT): the output then differs from one build to the next on the
//                host sandbox, so early cutoff cannot keep dependents up to date; and a
//                libtool .la or pkg-config .pc file with them misleads what builds on it  warning
//   hierarchy    files outside the usual hierarchy (/home, /tmp, /build…) or under
//                /usr/local (the build did not use $PREFIX)                              warning
//   permissions  world-writable files or directories (without the sticky bit), and
//                setuid or setgid files                                                  warning
//   memory       not of the output but of the run that made it: the kernel killed some of
//                its processes for memory (the cgroup's OOM-kill count), and the build
//                went on to succeed all the same (a background job and `wait`, a
//                `cmd || true`), its output maybe half made (oomFinding)                 warning
//
// A recipe turns a check off with `skip-checks = ["NAME", …]` under [build]. Errors refuse
// the output (the build fails with reason pack-failed); warnings are said in the log, on
// the console and in the report.
import type { ManifestEntry } from '../cache/archive.ts';
import { posix } from 'node:path';
import { KilnError } from '../errors.ts';
import type { ElfHeader } from '../lib/elf-header.ts';
import { foreignElfFiles, describeElf } from './elf-arch.ts';

export const OUTPUT_CHECKS = ['arch', 'symlinks', 'buildpaths', 'hierarchy', 'permissions', 'memory'] as const;
export type OutputCheck = (typeof OUTPUT_CHECKS)[number];

export interface OutputFinding {
  readonly check: OutputCheck;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly hint: string;
}

export interface OutputCheckInput {
  readonly entries: readonly ManifestEntry[];
  /** ELF headers by path (the arch check); undefined when it is not run. */
  readonly elf?: ReadonlyMap<string, ElfHeader>;
  /** The package's arch (the arch check). */
  readonly arch: string;
  /** Files (paths relative to $DESTDIR) whose content holds one of `buildPaths`. */
  readonly holding: readonly string[];
  /** The paths the build ran at, as it saw them ($SRCDIR, $DESTDIR, $SYSROOT). */
  readonly buildPaths: readonly string[];
  /** $DESTDIR as the build saw it: where relative symlinks are resolved from. */
  readonly dest?: string;
  /**
   * The paths kiln's environment hands a build's tools ($SYSROOT in LIBRARY_PATH, CPATH,
   * PKG_CONFIG_PATH; $DESTDIR): a file installed under a path naming one took it from there.
   * Default `buildPaths`. (Not $SRCDIR's /kiln/src: an install tree may well hold a kiln/src.)
   */
  readonly exportedPaths?: readonly string[];
  readonly skip: readonly string[];
}

/** Top-level folders a package installs into; anything else is outside the usual hierarchy. */
const USUAL_TOP = new Set(['bin', 'boot', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'opt', 'sbin', 'srv', 'usr', 'var']);

/** Name the first few paths, and how many more. */
function some(paths: readonly string[]): string {
  const first = paths.slice(0, 3).join(', ');
  return paths.length > 3 ? `${first} and ${paths.length - 3} more` : first;
}

export function checkOutput(input: OutputCheckInput): OutputFinding[] {
  const out: OutputFinding[] = [];
  const on = (c: OutputCheck): boolean => !input.skip.includes(c);
  const skipHint = (c: OutputCheck): string => `a package that means it sets skip-checks = ["${c}"] under [build]`;

  if (on('arch') && input.elf !== undefined) {
    const bad = foreignElfFiles(input.elf, input.arch);
    if (bad.length > 0) {
      out.push({
        check: 'arch',
        severity: 'error',
        message: `this package is built for ${input.arch}, but its output holds ELF files for another machine: ${some(bad.map((b) => `${b.path} (${describeElf(b.header)})`))}`,
        hint: `every ELF file must be for ${input.arch}'s machine. A script that compiled for the build machine must cross-compile for $KILN_ARCH (CC=TRIPLET-gcc or configure --host=TRIPLET, where "dpkg-architecture -a${input.arch} -qDEB_HOST_GNU_TYPE" prints TRIPLET), or build in an env of ${input.arch} (kiln env create NAME --suite SUITE --arch ${input.arch}, with a SUITE that has ${input.arch}, then --env NAME or env = "…-{arch}" in kiln.toml; without --sandbox host); ${skipHint('arch')}`,
      });
    }
  }

  const intoWorkspace = (target: string): boolean => input.buildPaths.some((p) => target === p || target.startsWith(`${p}/`));
  if (on('symlinks')) {
    const bad = input.entries.filter((e) => e.type === 'symlink' && e.target !== undefined && e.target.startsWith('/') && intoWorkspace(e.target));
    // A relative one that climbs out of the package into the workspace (`ln -sr "$SYSROOT/…"`
    // gives ../../../../sysroot/…). Resolved from where the package is built: one with a `..`
    // too many that stays in the package's tree once installed (/usr/lib/../../../etc is
    // /etc) does not reach the workspace's other folders, and is not refused.
    const dest = input.dest;
    const escaping = dest === undefined ? [] : input.entries.filter((e) => {
      if (e.type !== 'symlink' || e.target === undefined || e.target.startsWith('/')) return false;
      const at = posix.resolve(posix.dirname(posix.join(dest, e.path)), e.target);
      return at !== dest && !at.startsWith(`${dest}/`) && intoWorkspace(at);
    });
    if (bad.length > 0 || escaping.length > 0) {
      out.push({
        check: 'symlinks',
        severity: 'error',
        message: `symlinks that point nowhere once installed (into the build's workspace, or out of the package): ${some([...bad, ...escaping].map((e) => `${e.path} -> ${e.target}`))}`,
        hint: `point them at the installed path: ln -s /usr/lib/libfoo.so.1 "$DESTDIR/usr/lib/libfoo.so" (into this package: ln -sr "$DESTDIR/usr/lib/libfoo.so.1" "$DESTDIR/usr/lib/libfoo.so"; never into $SYSROOT, which is not installed with it); ${skipHint('symlinks')}`,
      });
    }
  }

  if (on('buildpaths')) {
    // Installed under a path that names the build's own folders ($DESTDIR/usr/$SYSROOT/usr/lib/…):
    // a Makefile variable such as LIBRARY_PATH took its value from the environment kiln gives.
    const exported = input.exportedPaths ?? input.buildPaths;
    const under = input.entries.filter((e) => e.type !== 'dir' && exported.some((p) => p.length > 1 && `/${e.path}/`.includes(`${p}/`))).map((e) => e.path);
    if (under.length > 0) {
      out.push({
        check: 'buildpaths',
        severity: 'error',
        message: `installed under a path that names the build's own folders (under ${posix.dirname(input.buildPaths[0] ?? '/')}), where nothing is once installed: ${some(under)}`,
        hint: `a Makefile variable took its value from the build's environment: kiln exports LIBRARY_PATH, CPATH, PKG_CONFIG_PATH and the like for the staged dependencies, and a Makefile of its own with a variable of that name (INSTALL_LIBRARY_PATH = $(DESTDIR)$(PREFIX)/$(LIBRARY_PATH)) takes it; give the variable on make's command line (make install LIBRARY_PATH=lib …) or unset it for that make (env -u LIBRARY_PATH make install …); ${skipHint('buildpaths')}`,
      });
    }
    const links = input.entries.filter((e) => e.type === 'symlink' && e.target !== undefined && !e.target.startsWith('/') && input.buildPaths.some((p) => e.target!.includes(p)));
    const paths = [...input.holding, ...links.map((e) => e.path)].sort();
    if (paths.length > 0) {
      out.push({
        check: 'buildpaths',
        severity: 'warning',
        message: `${paths.length} file${paths.length === 1 ? '' : 's'} hold${paths.length === 1 ? 's' : ''} the paths the build ran at ($SRCDIR, $DESTDIR, $SYSROOT…, under ${posix.dirname(input.buildPaths[0] ?? '/')}): ${some(paths)}`,
        hint: `such an output differs from one build to the next, so early cutoff rebuilds what depends on it, and a libtool .la or pkg-config .pc file with these paths misleads what builds on it: compile with CFLAGS="-O2 -ffile-prefix-map=$SRCDIR=. -ffile-prefix-map=$SYSROOT=" (debug info names the sources and the staged headers), write .pc files with prefix=$PREFIX (not $DESTDIR), remove libtool archives (rm -f "$DESTDIR"/usr/lib/*.la); strings FILE | grep ${posix.dirname(input.buildPaths[0] ?? '/')} shows which; ${skipHint('buildpaths')}`,
      });
    }
  }

  if (on('hierarchy')) {
    const outside = input.entries.filter((e) => e.type !== 'dir' && !USUAL_TOP.has(e.path.split('/')[0]!)).map((e) => e.path);
    const local = input.entries.filter((e) => e.type !== 'dir' && e.path.startsWith('usr/local/')).map((e) => e.path);
    if (outside.length > 0) {
      out.push({
        check: 'hierarchy',
        severity: 'warning',
        message: `installed outside /usr, /etc, /var, /opt and the other usual folders: ${some(outside)}`,
        hint: `install under $DESTDIR$PREFIX (PREFIX is /usr), not into the build's own folders; ${skipHint('hierarchy')}`,
      });
    }
    if (local.length > 0) {
      out.push({
        check: 'hierarchy',
        severity: 'warning',
        message: `installed under /usr/local, where the build's $PREFIX (/usr) should have put it: ${some(local)}`,
        hint: `pass the prefix to the build (./configure --prefix="$PREFIX", cmake -DCMAKE_INSTALL_PREFIX="$PREFIX", make PREFIX="$PREFIX"); ${skipHint('hierarchy')}`,
      });
    }
  }

  if (on('permissions')) {
    const writable = input.entries.filter((e) => e.type !== 'symlink' && (e.mode & 0o002) !== 0 && !(e.type === 'dir' && (e.mode & 0o1000) !== 0)).map((e) => e.path);
    const setid = input.entries.filter((e) => e.type === 'file' && (e.mode & 0o6000) !== 0).map((e) => `${e.path} (${(e.mode & 0o7777).toString(8)})`);
    if (writable.length > 0) {
      out.push({
        check: 'permissions',
        severity: 'warning',
        message: `world-writable: ${some(writable)}`,
        hint: `anyone on the machine it is installed on could change them: install them 0644 (files) or 0755 (directories) (install -m 0644 …, chmod o-w …); ${skipHint('permissions')}`,
      });
    }
    if (setid.length > 0) {
      out.push({
        check: 'permissions',
        severity: 'warning',
        message: `setuid or setgid: ${some(setid)}`,
        hint: `a program that runs with its owner's rights must be meant to; if it is, ${skipHint('permissions')}`,
      });
    }
  }
  return out;
}

/** A size as a recipe writes it: "512M", "1G", "1536K" (bytes as a plain number otherwise). */
export function sizeAsWritten(bytes: number): string {
  for (const [unit, size] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

export interface OomInput {
  /** How many processes of the build's run the kernel killed for memory (RunResult.oomKills). */
  readonly kills: number | undefined;
  /** The memory limit the build had. */
  readonly memoryBytes: number;
  /** A Debian source package (its limit is debian.toml's `memory`, not a recipe's). */
  readonly debian?: boolean;
}

/**
 * The memory check (pure): a build that succeeded although the kernel killed some of its
 * processes for memory (over its limit; or the machine ran out) gets a warning, since what
 * they were making may be missing from its output (a compiler killed in a background job,
 * a test suite's child). Undefined when nothing was killed.
 */
export function oomFinding(input: OomInput): OutputFinding | undefined {
  const n = input.kills ?? 0;
  if (n <= 0) return undefined;
  const limit = sizeAsWritten(input.memoryBytes);
  const more = sizeAsWritten(input.memoryBytes * 2);
  const where = input.debian === true ? 'in its debian.toml' : 'under [build] in the recipe';
  return {
    check: 'memory',
    severity: 'warning',
    message: `the memory limit (${limit}) killed ${n === 1 ? '1 process' : `${n} processes`} during this build (the build went on: check its output; raise memory = "${more}" ${where})`,
    hint: `a process killed for memory ("Killed signal terminated program cc1" from gcc, "Killed" from the shell) leaves its work undone, and a script that does not stop for it (a job run in the background and waited for, a command before || or in an if) goes on; its output may lack what that process was making, and what builds on it then fails (undefined references). Give the build more memory (memory = "${more}" ${where}${input.debian === true ? '' : ', or the tree\'s [defaults]'}) or fewer parallel jobs; under QEMU emulation a build needs more than natively${input.debian === true ? '' : `; a build that means it sets skip-checks = ["memory"] under [build]`}`,
  };
}

/**
 * Throws `bad-output` (`wrong-arch` for the arch check alone) naming every error finding,
 * with its check and its hint; with `warningsFail` (--fail-on-warnings), the warnings too.
 */
export function assertNoOutputErrors(findings: readonly OutputFinding[], warningsFail = false): void {
  const failing = findings.filter((f) => f.severity === 'error' || warningsFail);
  if (failing.length === 0) return;
  const code = failing.every((f) => f.check === 'arch') ? 'wrong-arch' : 'bad-output';
  const why = warningsFail && failing.some((f) => f.severity === 'warning') ? ' (warnings fail the build: --fail-on-warnings)' : '';
  if (failing.length === 1) throw new KilnError(code, `${failing[0]!.message}${why}`, { hint: failing[0]!.hint });
  throw new KilnError(code, `${failing.length} output checks failed${why}: ${failing.map((f) => `${f.check}: ${f.message}`).join('; ')}`, { hint: failing.map((f) => `${f.check}: ${f.hint}`).join('; ') });
}

/**
 * A Debian build's output is what collect copied (.deb, .udeb, .buildinfo, .changes): a
 * symlink in it was put there by the build itself (debian/rules writing into $DESTDIR),
 * and would point at the host's files once staged for publishing or lintian.
 */
export function assertDebianOutput(entries: readonly ManifestEntry[]): void {
  const links = entries.filter((e) => e.type === 'symlink');
  if (links.length === 0) return;
  throw new KilnError('bad-output', `a Debian build's output holds symlinks: ${some(links.map((e) => `${e.path} -> ${e.target ?? '?'}`))}`, {
    hint: 'the output of a Debian build is the files dpkg-buildpackage made, collected by kiln: debian/rules must not write into $DESTDIR',
  });
}
