// Local binary packages for a Debian run's builds, as sbuild's --extra-package: a .deb
// made elsewhere (a library with a fix the archive does not have yet) that a source
// build-depends on. Each is given as a file or a folder (every *.deb in it), on the
// command line (--extra-package PATH) or in debian.toml (extra-packages, relative to it),
// and read at plan time (dpkg-deb --field, deb-file.ts) before anything is fetched.
//
// They follow the extra repositories' design (extra-repos.ts): their stanzas are merged
// into the run's Packages index of each arch they fit (their arch or `all`), so that
// planning, dose and the resolver that makes the input key see them; and since apt in the
// build root prefers them (below), a stanza of the suite with the same name is left out
// of that arch's index: the plan resolves to what apt installs. In the build root they are
// staged with the run's own .debs (the local repository pinned at 1001, so apt installs
// them over the archive's same-named package, whatever the versions: extra packages win,
// as sbuild's do). Which jobs take which into their key: extra-package-use.ts.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, isKilnError } from '../errors.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import { sha256, sha256File } from '../lib/hash.ts';
import { readDebControl, renderFields } from './deb-file.ts';
import { forEachStanza } from './lazy-index.ts';
import { stagedDebName, usableExtraPackages, type ExtraPackage } from './extra-package-use.ts';

export type { ExtraPackage } from './extra-package-use.ts';

/** One --extra-package PATH (or debian.toml extra-packages item) as given. */
export interface ExtraPackageInput {
  /** Absolute. */
  readonly path: string;
  /** Where it was given, for messages: `--extra-package debs/`, `FILE: extra-packages[0]`. */
  readonly where: string;
  /** The code of an error about it: a flag's is `usage`, debian.toml's `config-invalid`. */
  readonly code: 'usage' | 'config-invalid';
}

const WHAT = 'give a .deb file, or a folder whose *.deb files are all taken (as sbuild\'s --extra-package)';

/**
 * Reads every extra package given: a missing path, a folder without .deb files, a file
 * that is not a readable .deb, or two different files of one name=version:arch are a
 * KilnError of the input's code naming where it was given. The same file given twice
 * (a folder and a file in it) is taken once.
 */
export async function collectExtraPackages(inputs: readonly ExtraPackageInput[], o: { signal?: AbortSignal } = {}): Promise<ExtraPackage[]> {
  const files: { path: string; input: ExtraPackageInput }[] = [];
  for (const input of inputs) {
    const st = await stat(input.path).catch(() => undefined);
    if (st === undefined) throw new KilnError(input.code, `${input.where}: ${input.path} does not exist`, { hint: WHAT });
    if (st.isDirectory()) {
      const entries = await readdir(input.path, { withFileTypes: true });
      const debs = entries.filter((e) => e.name.endsWith('.deb') && (e.isFile() || e.isSymbolicLink())).map((e) => e.name).sort();
      if (debs.length === 0) throw new KilnError(input.code, `${input.where}: the folder ${input.path} holds no .deb files`, { hint: `put the binary packages there (dpkg-deb --build makes one), or ${WHAT}` });
      for (const name of debs) files.push({ path: join(input.path, name), input });
    } else if (st.isFile()) files.push({ path: input.path, input });
    else throw new KilnError(input.code, `${input.where}: ${input.path} is neither a file nor a folder`, { hint: WHAT });
  }
  const read = await mapLimited(files, 8, async ({ path, input }): Promise<ExtraPackage> => {
    const control = await readDebControl(path, o).catch((e: unknown) => {
      if (!isKilnError(e)) throw e;
      const detail = e.message.startsWith(path) ? e.message.slice(path.length).replace(/^:?\s*/, '') : e.message;
      throw new KilnError(input.code, `${input.where}: ${path} is not a valid .deb (${detail})`, { hint: `${e.hint ?? 'check it with dpkg-deb --info FILE'}; ${WHAT}`, cause: e });
    });
    const [sha, size] = await Promise.all([sha256File(path, o), stat(path).then((s) => s.size)]);
    return { path, where: input.where, package: control.package, version: control.version, architecture: control.architecture, sha256: sha, size, control: renderFields(control.fields).replace(/\n+$/, '') };
  });
  const byIdentity = new Map<string, ExtraPackage>();
  const out: ExtraPackage[] = [];
  for (const p of read) {
    const id = `${p.package}=${p.version}:${p.architecture}`;
    const had = byIdentity.get(id);
    if (had === undefined) {
      byIdentity.set(id, p);
      out.push(p);
    } else if (had.sha256 !== p.sha256) {
      throw new KilnError(codeOf(inputs, p), `${p.where}: ${p.path} and ${had.path} (${had.where}) are both ${p.package} ${p.version} (${p.architecture}), with other contents`, {
        hint: 'give one of them: apt takes one file for one name, version and arch',
      });
    }
  }
  return out;
}

function codeOf(inputs: readonly ExtraPackageInput[], p: ExtraPackage): 'usage' | 'config-invalid' {
  return inputs.find((i) => i.where === p.where)?.code ?? 'usage';
}

/** `f` over `items`, at most `limit` at once, results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Fields an index stanza gets from kiln, not from the .deb (a control file should not have them). */
const INDEX_FIELDS = /^(Filename|Size|MD5sum|SHA1|SHA256|SHA512|X-Kiln-Mirror):.*(\n[ \t].*)*\n?/gim;

/** The Packages stanza of an extra package: its control fields, and where the index says its file is. */
export function extraPackageStanza(p: ExtraPackage): string {
  const fields = `${p.control}\n`.replace(INDEX_FIELDS, '').replace(/\n+$/, '');
  return `${fields}\nFilename: kiln-extra-packages/${p.sha256.slice(0, 16)}/${stagedDebName(p)}\nSize: ${p.size}\nSHA256: ${p.sha256}`;
}

/**
 * The Packages index `base` of one arch with `extras` (those that fit it) added, and the
 * stanzas of the same names left out: apt in the build root prefers the extra packages
 * whatever their version (pure).
 */
export function mergeExtraPackages(base: string, extras: readonly ExtraPackage[]): string {
  if (extras.length === 0) return base;
  const names = new Set(extras.map((p) => p.package));
  const pattern = new RegExp(`^Package:[ \\t]*(${[...names].map((n) => n.replace(/[.+]/g, '\\$&')).join('|')})[ \\t]*$`, 'm');
  let kept = base.replace(/\n*$/, '');
  if (pattern.test(base)) {
    const parts: string[] = [];
    forEachStanza(base, (name, stanza) => {
      if (!names.has(name)) parts.push(stanza.replace(/\n+$/, ''));
    });
    kept = parts.join('\n\n');
  }
  return `${kept}${kept === '' ? '' : '\n\n'}${extras.map(extraPackageStanza).join('\n\n')}\n`;
}

/**
 * Each arch's Packages index with the extra packages that fit it merged in (written to
 * `<cacheDir>/indexes/<sha256>`, as the other indexes are); an arch none fits keeps its index.
 */
export async function mergeExtraPackagesInto(packagesPaths: ReadonlyMap<string, string>, extras: readonly ExtraPackage[], cacheDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [arch, path] of packagesPaths) {
    const fit = usableExtraPackages(extras, [arch]);
    if (fit.length === 0) {
      out.set(arch, path);
      continue;
    }
    const text = mergeExtraPackages(await readFile(path, 'utf8'), fit);
    const file = join(cacheDir, 'indexes', sha256(text));
    await atomicWrite(file, text);
    out.set(arch, file);
  }
  return out;
}
