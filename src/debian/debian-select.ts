// Which source package a run builds: a name (the highest version the suite still builds),
// `name=version`, or a local .dsc turned into a Sources entry.

import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isKilnError, KilnError } from '../errors.ts';
import type { InvalidPackage } from '../plan/spec.ts';
import { closestName } from './closest-name.ts';
import type { Paragraph } from './deb822.ts';
import { parseVerifiedDsc, readLocalDsc } from './dsc.ts';
import { rawField, type BinaryUniverse, type LazyIndex } from './lazy-index.ts';
import { sourceFromParagraph, type SourcePackage } from './sources-index.ts';
import type { LayeredSources } from './components.ts';

/**
 * The source `want` names: `name=version`, or the highest version of `name` that the suite
 * builds. Stanzas marked `Extra-Source-Only: yes` (old versions kept only because some
 * binary was built from them) are never picked by name alone; with --all a source that has
 * only such stanzas is left out (undefined). With the run's components (a LayeredSources),
 * the name is looked up in the first component that has it, which the answer names.
 */
export function selectSource(sources: LazyIndex<SourcePackage> | LayeredSources, want: string, req: { readonly suite: string; readonly all: boolean }, u: BinaryUniverse | undefined): { src: SourcePackage; raw: string; dscPath: undefined; component?: string } | undefined {
  const eq = want.indexOf('=');
  const name = eq === -1 ? want : want.slice(0, eq);
  const version = eq === -1 ? undefined : want.slice(eq + 1);
  const components = 'components' in sources ? sources.components : ['main'];
  const list = sources.versions(name);
  const rawOf = (v: string): string => sources.stanza(name, v) ?? sources.raw(name)[0]!;
  const extraOnly = (v: string): boolean => rawField(rawOf(v), 'Extra-Source-Only') === 'yes';
  const src = version === undefined ? list.find((s) => !extraOnly(s.version)) : list.find((s) => s.version === version);
  if (src === undefined && version === undefined && list.length > 0) {
    if (req.all) return undefined;
    throw new KilnError('source-not-found', `${req.suite} keeps ${name} only as Extra-Source-Only (${list.map((s) => s.version).join(', ')}): it is not built there any more`, {
      hint: `name a version to build one anyway: ${name}=${list[0]!.version}`,
    });
  }
  if (src === undefined) {
    const bin = u?.versions(name)[0];
    const hint = bin !== undefined && bin.source !== name
      ? `${name} is a binary package built by source ${bin.source}: ask for ${bin.source}`
      : list.length > 0
        ? `${req.suite} has ${name} ${list.map((s) => s.version).join(', ')}`
        : nearName(sources, name, req.suite, components);
    throw new KilnError('source-not-found', `no source package ${want} in ${req.suite} ${components.join(', ')}`, { hint });
  }
  const component = 'componentOf' in sources ? sources.componentOf(name) : undefined;
  return { src, raw: rawOf(src.version), dscPath: undefined, ...(component === undefined ? {} : { component }) };
}

/**
 * The hint for a name the run's components have no source of: the nearest name they have
 * (a typo), else that it may be in a component not read, and how to read it.
 */
function nearName(sources: LazyIndex<SourcePackage>, name: string, suite: string, components: readonly string[]): string {
  const near = closestName(name, sources.names(), name.length <= 4 ? 1 : 2);
  if (near !== undefined) return `did you mean "${near}"?`;
  const more = ['main', 'contrib', 'non-free', 'non-free-firmware'].filter((c) => !components.includes(c));
  return `searched ${suite} ${components.join(', ')} only: if ${name} is in another component${more.length === 0 ? '' : ` (${more.join(', ')})`}, add it with --components (e.g. --components ${[...components, more[0] ?? 'contrib'].join(',')}) or components = [...] in debian.toml; else check the name (\`apt-cache showsrc ${name}\` on a ${suite} machine lists it if it exists)`;
}

/**
 * A local .dsc as a Sources entry (its files are verified against it when it is read), or,
 * when a file it lists is missing or does not match it, that package broken with why: one
 * bad source package must not stop a run of many (a .dsc that cannot be read at all does).
 */
export async function localSource(path: string, signal: AbortSignal | undefined): Promise<{ src: SourcePackage; raw: string; dscPath: string } | { invalid: InvalidPackage }> {
  let fetched: Awaited<ReturnType<typeof readLocalDsc>>;
  try {
    fetched = await readLocalDsc(path, signal === undefined ? {} : { signal });
  } catch (e) {
    if (!isKilnError(e) || !(e.code === 'checksum-mismatch' || (e.code === 'source-not-found' && e.message.startsWith(`${path} lists `)))) throw e;
    const dsc = parseVerifiedDsc(await readFile(path, 'utf8'), path);
    return { invalid: { name: dsc.source, version: dsc.version, debian: true, dir: dirname(path), diagnostics: [{ file: path, message: e.hint === undefined ? e.message : `${e.message} (${e.hint})` }] } };
  }
  const fields = new Map(fetched.dsc.fields);
  fields.set('package', fetched.dsc.source);
  fields.set('directory', '.');
  const all = [fetched.dscFile, ...fetched.files];
  fields.set('checksums-sha256', '\n' + all.map((f) => ` ${f.sha256} ${f.size} ${f.name}`).join('\n'));
  const paragraph: Paragraph = { fields, line: 1 };
  const src = sourceFromParagraph(paragraph, path);
  const keep = ['Package', 'Version', 'Architecture', 'Build-Depends', 'Build-Depends-Arch', 'Build-Depends-Indep', 'Build-Conflicts', 'Build-Conflicts-Arch', 'Build-Conflicts-Indep'];
  const raw = keep.flatMap((k) => {
    const v = fields.get(k.toLowerCase());
    return v === undefined ? [] : [`${k}: ${v.replace(/\n/g, '\n ').trim()}`];
  }).join('\n');
  return { src, raw, dscPath: path };
}
