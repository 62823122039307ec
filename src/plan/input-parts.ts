// What a package's recipe hash and sources hash are made of, part by part, so that a
// rebuild can say which part changed (`recipe-changed: build.sh changed`) instead of only
// that the hash did. Pure. A build records its parts (records: job_inputs.parts); the next
// plan compares the last good build's with its own for a package whose reason is
// recipe-changed or source-changed. The hashes themselves stay the key's: parts only explain.

import type { Reason } from './reason.ts';
import type { PackageSpec } from './spec.ts';
import { keyOptions } from '../debian/key-options.ts';
import { extraArchsOf, extraPackageParts, usableExtraPackages } from '../debian/extra-package-use.ts';

/**
 * Part label → value. Labels: `file:PATH` (a file of the recipe, a short digest),
 * `source:URL` (a source's checksum or git commit; `source:URL (sources[I], dest D)` for
 * a url the recipe names more than once), `option:NAME` (on or off), and for a
 * Debian source `mode` (dpkg-buildpackage's), `options` (kiln's build options for it) and
 * `dep:NAME` (a build dependency apt installs: `VERSION#DIGEST` of what it pulls in) and
 * `extra-package:NAME` (an --extra-package .deb the job can use: `VERSION#DIGEST` of the file).
 */
export type Parts = Readonly<Record<string, string>>;

export interface InputParts {
  readonly recipe: Parts;
  readonly sources: Parts;
}

export interface PartChange {
  readonly part: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** The value before and now, for the parts whose value means something to a reader (options, mode, build dependencies). */
  readonly was?: string;
  readonly now?: string;
}

const SHORT = 16;

/** The parts of `spec` as built for `arch` (recipeHashOf's and sourcesHash's inputs). */
export function inputPartsOf(spec: PackageSpec, arch: string): InputParts {
  const d = spec.debian;
  if (d !== undefined) {
    const files: Record<string, string> = {};
    for (const f of d.source.files) files[`file:${f.name}`] = f.sha256.slice(0, SHORT);
    const recipe: Record<string, string> = { ...files };
    const mode = d.modeFor[arch];
    if (mode !== undefined) recipe['mode'] = mode;
    recipe['options'] = JSON.stringify(keyOptions(d.options));
    for (const c of d.chosen[arch] ?? []) {
      const eq = c.indexOf('=');
      if (eq > 0 && !c.startsWith('!') && !c.startsWith('conflicts:')) recipe[`dep:${c.slice(0, eq)}`] = c.slice(eq + 1);
      else recipe[c] = '';
    }
    Object.assign(recipe, extraPackageParts(usableExtraPackages(d.suite?.extraPackages ?? [], extraArchsOf(d, arch))));
    return { recipe, sources: files };
  }
  const recipe: Record<string, string> = {};
  for (const [path, digest] of Object.entries(spec.recipeFiles ?? {})) recipe[`file:${path}`] = digest;
  for (const [name, on] of Object.entries(spec.optionValues ?? {})) recipe[`option:${name}`] = on ? 'on' : 'off';
  const sources: Record<string, string> = {};
  const labels = sourceLabels(spec.sources);
  spec.sources.forEach((s, i) => {
    sources[labels[i]!] = (s.sha256 ?? s.rev ?? '').slice(0, SHORT);
  });
  return { recipe, sources };
}

/**
 * Each source's part label: `source:URL`, unique by itself for a url the recipe names
 * once; a url named more than once (one git repository exported twice, to two dests) is
 * told apart by its position and dest: `source:URL (sources[1], dest vendor/b)`.
 */
function sourceLabels(sources: readonly { readonly url: string; readonly dest: string }[]): string[] {
  const count = new Map<string, number>();
  for (const s of sources) count.set(s.url, (count.get(s.url) ?? 0) + 1);
  return sources.map((s, i) => (count.get(s.url) === 1 ? `source:${s.url}` : `source:${s.url} (sources[${i}]${s.dest === '' ? '' : `, dest ${s.dest}`})`));
}

/** The url of a source part label made by sourceLabels, or undefined for a label of another kind. */
function urlOfSourceLabel(label: string): string | undefined {
  if (!label.startsWith('source:')) return undefined;
  return label.slice('source:'.length).replace(/ \(sources\[\d+\](?:, dest .*)?\)$/, '');
}

/**
 * `before`'s source parts as sourceLabels would label them now. A build recorded before a
 * repeated url had labels of its own kept one `source:URL` for it, holding the last such
 * source's value (each overwrote the one before): that value is compared with the last
 * source with that url now, the others are not known and not said to have changed.
 */
function relabelOld(before: Parts, now: Parts): Parts {
  const out: Record<string, string> = {};
  const nowByUrl = new Map<string, string[]>();
  for (const label of Object.keys(now)) {
    const url = urlOfSourceLabel(label);
    if (url !== undefined && label !== `source:${url}`) nowByUrl.set(url, [...(nowByUrl.get(url) ?? []), label]);
  }
  for (const [label, value] of Object.entries(before)) {
    const url = urlOfSourceLabel(label);
    const repeated = url === undefined || label !== `source:${url}` || Object.hasOwn(now, label) ? undefined : nowByUrl.get(url);
    if (repeated === undefined) {
      out[label] = value;
      continue;
    }
    const last = repeated.reduce((a, b) => (positionOf(b) > positionOf(a) ? b : a));
    for (const l of repeated) out[l] = l === last ? value : now[l]!;
  }
  return out;
}

function positionOf(label: string): number {
  return Number(/ \(sources\[(\d+)\]/.exec(label)?.[1] ?? -1);
}

/** A recipe-changed or source-changed reason with the parts that changed since `before` (unchanged without it). */
export function withChanges(why: Extract<Reason, { kind: 'recipe-changed' | 'source-changed' }>, before: InputParts | undefined, now: InputParts): Reason {
  if (before === undefined) return why;
  const changes = why.kind === 'recipe-changed' ? diffParts(before.recipe, now.recipe) : diffParts(relabelOld(before.sources, now.sources), now.sources);
  return changes.length === 0 ? why : { ...why, changes };
}

/** The parts that differ between `before` and `now`, in label order. */
export function diffParts(before: Parts, now: Parts): PartChange[] {
  const out: PartChange[] = [];
  for (const part of [...new Set([...Object.keys(before), ...Object.keys(now)])].sort()) {
    const was = Object.hasOwn(before, part) ? before[part] : undefined;
    const is = Object.hasOwn(now, part) ? now[part] : undefined;
    if (was === is) continue;
    const change = was === undefined ? 'added' : is === undefined ? 'removed' : 'changed';
    const shown = !part.startsWith('file:') && !part.startsWith('source:');
    out.push({ part, change, ...(shown && was !== undefined && was !== '' ? { was } : {}), ...(shown && is !== undefined && is !== '' ? { now: is } : {}) });
  }
  return out;
}

/** How many changes a reason names before it says "and N more". */
const NAMED = 3;

/** `build.sh changed, option docs on → off` (the first few, then how many more). */
export function describeChanges(changes: readonly PartChange[]): string {
  const named = changes.slice(0, NAMED).map(describeChange);
  const more = changes.length - named.length;
  return more > 0 ? `${named.join(', ')}, and ${more} more` : named.join(', ');
}

function describeChange(c: PartChange): string {
  const colon = c.part.indexOf(':');
  const kind = colon < 0 ? c.part : c.part.slice(0, colon);
  const name = colon < 0 ? c.part : c.part.slice(colon + 1);
  switch (kind) {
    case 'file':
      return `${name} ${c.change}`;
    case 'source':
      return c.change === 'changed' ? `source ${name} has another checksum` : `source ${name} ${c.change}`;
    case 'options':
      return c.change === 'changed' ? optionsChange(c.was!, c.now!) : `build options ${c.change}`;
    case 'option':
    case 'mode': {
      const what = kind === 'option' ? `option ${name}` : 'build mode';
      return c.change === 'changed' ? `${what} ${c.was} → ${c.now}` : `${what} ${c.change}`;
    }
    case 'conflicts':
      return `build conflict ${name} ${c.change}`;
    case 'extra-package': {
      // Several .debs of one name (two archs) are one part: `1.0#… 1.1#…`.
      const was = c.was === undefined ? undefined : c.was.split(' ').map(versionOf).join(', ');
      const now = c.now === undefined ? undefined : c.now.split(' ').map(versionOf).join(', ');
      if (c.change === 'added') return `extra package ${name} ${now} added (--extra-package)`;
      if (c.change === 'removed') return `extra package ${name} ${was} removed (--extra-package)`;
      return was === now ? `extra package ${name} ${now}: the .deb's contents changed (--extra-package)` : `extra package ${name} ${was} → ${now} (--extra-package)`;
    }
    case 'dep': {
      const was = c.was === undefined ? undefined : versionOf(c.was);
      const now = c.now === undefined ? undefined : versionOf(c.now);
      if (c.change === 'added') return `build dependency ${name} ${now} added`;
      if (c.change === 'removed') return `build dependency ${name} ${was} removed`;
      return was === now ? `build dependency ${name} ${now}: what it installs with it changed` : `build dependency ${name} ${was} → ${now}`;
    }
    default:
      // `!GROUP`: a build dependency none of whose alternatives could be installed.
      return c.part.startsWith('!') ? `uninstallable build dependency ${c.part.slice(1)} ${c.change}` : `${c.part} ${c.change}`;
  }
}

/** `build option nocheck false → true` for each of kiln's build options (a JSON object) that differs. */
function optionsChange(was: string, now: string): string {
  let a: Record<string, unknown>;
  let b: Record<string, unknown>;
  try {
    a = JSON.parse(was) as Record<string, unknown>;
    b = JSON.parse(now) as Record<string, unknown>;
  } catch {
    return `build options ${was} → ${now}`;
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  if (keys.length === 0) return `build options ${was} → ${now}`;
  return keys.map((k) => `build option ${k} ${JSON.stringify(a[k]) ?? 'unset'} → ${JSON.stringify(b[k]) ?? 'unset'}`).join(', ');
}

/** `2.36-9` of `2.36-9#0123456789abcdef`. */
function versionOf(v: string): string {
  const hash = v.lastIndexOf('#');
  return hash < 0 ? v : v.slice(0, hash);
}
