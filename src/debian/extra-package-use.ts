// Which of a run's extra packages (--extra-package, debian.toml's extra-packages:
// extra-packages.ts) one Debian job can use, and how they enter its input key. Pure and
// light: the planner's input parts (plan/input-parts.ts) load it on every run.
//
// The rule: a job can use every extra package of its build arch (an `all` job's: the run's
// primary arch), of a cross job's build arch too, and every `Architecture: all` one. All of
// those are in its key, whether its build dependencies name them or not: a job's key does
// not depend on what apt would pick among them, and a changed .deb rebuilds every job that
// apt could give it to. An extra package of another arch is not used by the job (its log says so).

/** One local .deb offered to the builds (read at plan time: extra-packages.ts). */
export interface ExtraPackage {
  /** Absolute path of the .deb. */
  readonly path: string;
  /** Where it was given, for messages: `--extra-package DIR`, `FILE: extra-packages[0]`. */
  readonly where: string;
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  readonly sha256: string;
  readonly size: number;
  /** Its control paragraph as dpkg-deb gives it (no trailing newline). */
  readonly control: string;
}

/** The Debian archs whose extra packages a job of `arch` can use (besides `all`). */
export function extraArchsOf(d: { readonly primaryArch: string; readonly cross?: string | undefined }, arch: string): string[] {
  const buildArch = arch === 'all' ? d.primaryArch : arch;
  const cross = d.cross !== undefined && arch !== 'all' && arch !== d.cross ? d.cross : undefined;
  return cross === undefined ? [buildArch] : [buildArch, cross];
}

/** The extra packages of `archs` and of `all`, in the order given (pure). */
export function usableExtraPackages(list: readonly ExtraPackage[], archs: readonly string[]): ExtraPackage[] {
  return list.filter((p) => p.architecture === 'all' || archs.includes(p.architecture));
}

/** What the input key takes of a job's extra packages: `name=version:arch#sha256`, sorted (pure). */
export function extraPackagesKey(list: readonly ExtraPackage[]): string[] {
  return list.map((p) => `${p.package}=${p.version}:${p.architecture}#${p.sha256}`).sort();
}

/**
 * The input parts of a job's extra packages (plan/input-parts.ts): `extra-package:NAME` →
 * `VERSION#DIGEST` (a short sha256 of the file), several of one name joined by a space (pure).
 */
export function extraPackageParts(list: readonly ExtraPackage[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of [...list].sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0))) {
    const label = `extra-package:${p.package}`;
    const value = `${p.version}#${p.sha256.slice(0, 16)}`;
    out[label] = out[label] === undefined ? value : `${out[label]} ${value}`;
  }
  return out;
}

/**
 * The file name a .deb is staged under in the build root's local repository (as
 * dpkg-buildpackage names one: no epoch), which stagedDebs (execute/debian-offline-apt.ts)
 * reads back as name=version:arch.
 */
export function stagedDebName(p: Pick<ExtraPackage, 'package' | 'version' | 'architecture'>): string {
  return `${p.package}_${p.version.replace(/^\d+:/, '')}_${p.architecture}.deb`;
}
