// The clean environment a build script runs with: nothing inherited from kiln's own
// environment, search paths pointed into $SYSROOT where build dependencies are staged.

import { shellQuote } from '../lib/shell-quote.ts';
import type { SandboxLayout } from '../sandbox/sandbox.ts';
import { optionEnvironment } from '../plan/options.ts';

/** 1980-01-01T00:00:00Z: the zip epoch, a fixed default so outputs are reproducible. */
export const DEFAULT_SOURCE_DATE_EPOCH = 315532800;

export function buildEnvironment(options: {
  readonly inside: SandboxLayout;
  readonly jobs: number;
  readonly arch: string;
  readonly name: string;
  readonly version: string;
  readonly sourceDateEpoch: number;
  /** Active build profiles: $KILN_PROFILES, space-separated as in DEB_BUILD_PROFILES ('' for none). */
  readonly profiles?: readonly string[];
  /** The recipe's options as the run set them (PackageSpec.optionValues): $KILN_OPTIONS and $KILN_OPTION_NAME. */
  readonly options?: Readonly<Record<string, boolean>> | undefined;
  /** The flavour of the recipe this package is ($KILN_FLAVOUR; '' for the recipe's own package). */
  readonly flavour?: string | undefined;
}): Record<string, string> {
  const { inside: p } = options;
  const lib = `${p.sysroot}/usr/lib`;
  return {
    SRCDIR: p.src,
    DESTDIR: p.dest,
    PREFIX: '/usr',
    JOBS: String(options.jobs),
    SYSROOT: p.sysroot,
    KILN_ARCH: options.arch,
    KILN_PACKAGE: options.name,
    KILN_VERSION: options.version,
    KILN_PROFILES: (options.profiles ?? []).join(' '),
    ...optionEnvironment(options.options),
    KILN_FLAVOUR: options.flavour ?? '',
    SOURCE_DATE_EPOCH: String(options.sourceDateEpoch),
    HOME: p.home,
    TMPDIR: p.tmp,
    PATH: `${p.sysroot}/usr/bin:/usr/local/bin:/usr/bin:/bin`,
    CPPFLAGS: `-I${p.sysroot}/usr/include`,
    LDFLAGS: `-L${lib} -Wl,-rpath-link,${lib}`,
    CPATH: `${p.sysroot}/usr/include`,
    LIBRARY_PATH: lib,
    LD_LIBRARY_PATH: lib,
    PKG_CONFIG_PATH: `${lib}/pkgconfig:${p.sysroot}/usr/share/pkgconfig`,
    PKG_CONFIG_SYSROOT_DIR: p.sysroot,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    SHELL: '/bin/bash',
  };
}

/**
 * What a recipe build runs, for its log: the environment, sorted and quoted, and the
 * script, in one note of many lines (one write into the log, however long the environment).
 */
export function describeBuild(env: Readonly<Record<string, string>>, script: string, cwd: string): string {
  let what = 'environment (nothing else is inherited; kiln adds KILN_JOB_COOKIE, to find the build\'s processes):';
  for (const k of Object.keys(env).sort()) what += `\n  ${k}=${shellQuote(env[k]!)}`;
  what += `\nscript (bash -e, in ${cwd}):`;
  for (const line of script.replace(/\n$/, '').split('\n')) what += `\n| ${line}`;
  return what;
}
