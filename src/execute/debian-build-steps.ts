// The pure pieces of a Debian build (debian-build.ts runs them): the shell lines of its
// steps, the flags and options dpkg-buildpackage and apt-get get, and what apt-get -s says.

import type { DebianBuildMode, DebianOptions } from '../debian/debian-spec.ts';
import { shellQuote as sh } from '../lib/shell-quote.ts';

/** Parsed `Inst name (version origin [arch])` lines of apt-get -s. */
export function parseAptSimulation(text: string): { name: string; version: string; arch: string }[] {
  const out: { name: string; version: string; arch: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([a-z0-9-]+)\]\)/.exec(line);
    if (m !== null) out.push({ name: m[1]!.replace(/:[a-z0-9-]+$/, ''), version: m[2]!, arch: m[3]! });
  }
  return out;
}

export function dpkgBuildpackageFlag(mode: DebianBuildMode): string {
  return mode === 'binary' ? '-b' : mode === 'binary-arch' ? '-B' : '-A';
}

/**
 * DEB_BUILD_OPTIONS of a build (pure): parallel=N, and nocheck and nodoc when asked for
 * or when their build profile is active, as Debian's build profile specification asks of
 * the two (else debhelper copies nodoc over itself, with a warning).
 */
export function debBuildOptions(cpus: number, nocheck: boolean, profiles: readonly string[] = []): string {
  return [`parallel=${cpus}`, ...(nocheck || profiles.includes('nocheck') ? ['nocheck'] : []), ...(profiles.includes('nodoc') ? ['nodoc'] : [])].join(' ');
}

/**
 * Shell lines that make the staged .debs in DIR (this run's packages, in $SYSROOT) a flat
 * apt repository: `Packages` from dpkg-scanpackages, and a `Release` as complete as
 * apt-ftparchive release writes one for it (Origin kiln-run, a Date, the SHA256 and size
 * of Packages), so that apt prints no warning about it ("No Hash entry in Release file",
 * "Invalid 'Date' entry"). Leaves the shell in DIR.
 */
export function runRepoScript(dir: string): string[] {
  return [
    `cd ${sh(dir)} && dpkg-scanpackages --multiversion . > Packages 2> /dev/null`,
    '{',
    "  printf 'Origin: kiln-run\\nLabel: kiln-run\\nSuite: kiln-run\\nCodename: kiln-run\\n'",
    "  printf 'Date: %s\\n' \"$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')\"",
    "  printf 'SHA256:\\n %s %s Packages\\n' \"$(sha256sum Packages | cut -d ' ' -f 1)\" \"$(stat -c %s Packages)\"",
    '} > Release',
  ];
}

/**
 * Shell lines (in the unpacked source) that make the build a binNMU, as sbuild's
 * --make-binNMU does: a binary-only changelog entry VERSION+bN for the suite built for, on
 * top. It is dated as the entry below it, so SOURCE_DATE_EPOCH, and the build's bytes, stay
 * those of the source.
 */
export function binnmuScript(n: number, arch: string, suite: string): string[] {
  return [
    'kiln_src=$(dpkg-parsechangelog -S Source); kiln_ver=$(dpkg-parsechangelog -S Version)',
    `kiln_dist=${sh(suite)}; kiln_date=$(dpkg-parsechangelog -S Date)`,
    `{ printf '%s (%s+b${n}) %s; urgency=medium, binary-only=yes\\n\\n  * Binary-only non-maintainer upload for ${arch}; no source changes.\\n  * Rebuilt by kiln.\\n\\n -- kiln <kiln@localhost>  %s\\n\\n' "$kiln_src" "$kiln_ver" "$kiln_dist" "$kiln_date"; cat debian/changelog; } > debian/changelog.kiln`,
    'mv debian/changelog.kiln debian/changelog',
    `echo "kiln: binNMU: $kiln_src $kiln_ver+b${n} (a binary-only changelog entry)" >&2`,
  ];
}

/** apt-get build-dep's flags for a build in `mode` with `options`; `hostArch` for a cross build (-a). */
export function aptBuildDepArgs(options: DebianOptions, mode: DebianBuildMode, hostArch?: string): string[] {
  const profiles = [...new Set([...options.profiles, ...(options.nocheck ? ['nocheck'] : [])])];
  return [
    ...(hostArch === undefined ? [] : ['-a', hostArch]),
    '--no-install-recommends',
    ...(mode === 'binary-arch' ? ['--arch-only'] : mode === 'binary-indep' ? ['--indep-only'] : []),
    ...(profiles.length > 0 ? ['-P', profiles.join(',')] : []),
  ];
}

/**
 * A Packages `Filename:` kiln downloads (relative to the repository's URL) and writes under
 * its local repository: a path of two or more parts (`pool/…`, or a third party's
 * `dists/…/pool/…`), no `.` or `..` part, none either once percent-decoded (a URL would
 * resolve `%2e%2e` out of the repository), no odd characters.
 */
export function safePoolPath(p: string): boolean {
  if (!/^[A-Za-z0-9._+~%:@-]+(\/[A-Za-z0-9._+~%:@-]+)+$/.test(p)) return false;
  return p.split('/').every((s) => {
    let plain: string;
    try {
      plain = decodeURIComponent(s);
    } catch {
      return false;
    }
    return s !== '.' && s !== '..' && plain !== '.' && plain !== '..' && !plain.includes('/') && !plain.includes('\\');
  });
}

/**
 * A shell test, run in the unpacked source: true when debian/control has an
 * `Architecture: all` package that the active build profiles (DEB_BUILD_PROFILES) keep, so
 * that `dpkg-buildpackage -A` has something to build. dpkg's own modules decide, as
 * dpkg-buildpackage does.
 */
export const HAS_INDEP_PACKAGES = `perl -MDpkg::Control::Info -MDpkg::BuildProfiles=get_build_profiles,parse_build_profiles,evaluate_restriction_formula -e ${sh([
  'my @p = get_build_profiles();',
  "for my $pkg (Dpkg::Control::Info->new('debian/control')->get_packages()) {",
  "  next unless ($pkg->{Architecture} // '') eq 'all';",
  "  my $bp = $pkg->{'Build-Profiles'};",
  '  next if defined $bp && !evaluate_restriction_formula([parse_build_profiles($bp)], \\@p);',
  '  exit 0;',
  '}',
  'exit 1;',
].join(' '))}`;
