// Mirror resolution: `mirror://NAME/path` urls go through the [mirrors] table of kiln.toml;
// `debian` defaults to the Debian archive the host's apt already uses, so a fresh install
// fetches from the same (often local or proxied) mirror as the machine itself.
//
// apt reads `sources.list`, then `sources.list.d/*.list` (one-line format) and
// `sources.list.d/*.sources` (deb822) in name order; other endings (e.g. `.disabled`) are
// ignored, as are `Enabled: no` stanzas, `deb-src`-only entries and cdrom/file URIs.
// Of the remaining `deb` entries we take the first that serves a Debian release suite
// (`bookworm`, `stable`, …; not `-security`/`-updates`/`-backports`), else the first plain
// suite served from a path ending in `/debian` — third-party repositories such as
// `nodistro` do not qualify.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface AptEntry {
  readonly types: readonly string[];
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly components: readonly string[];
}

const RELEASE_SUITES = new Set([
  'stable', 'testing', 'unstable', 'oldstable', 'oldoldstable', 'sid',
  'hamm', 'slink', 'potato', 'woody', 'sarge', 'etch', 'lenny', 'squeeze', 'wheezy', 'jessie',
  'stretch', 'buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke',
]);

/** A Debian release's codename or class (bookworm, sid, stable…), as env names start with. */
export function isDebianSuiteName(name: string): boolean {
  return RELEASE_SUITES.has(name);
}

export async function hostDebianMirror(options: { aptDir?: string } = {}): Promise<string | undefined> {
  const all = await readAptSources(options.aptDir ?? '/etc/apt');
  const usable = all.filter((e) => e.types.includes('deb'));
  const plainSuite = (s: string): boolean => /^[a-z][a-z0-9]*$/.test(s);
  const pick = (ok: (e: AptEntry, uri: string) => boolean): string | undefined => {
    for (const e of usable) {
      for (const uri of e.uris) {
        // A user name and password in the uri (apt allows it) are read as credentials
        // (credentials.ts), never kept in the mirror's url: kiln prints and records that.
        if (/^https?:\/\//.test(uri) && ok(e, uri)) return withoutUserinfo(uri).replace(/\/+$/, '');
      }
    }
    return undefined;
  };
  return (
    pick((e) => e.suites.some((s) => RELEASE_SUITES.has(s))) ??
    pick((e, uri) => /\/debian\/*$/.test(uri) && e.suites.some(plainSuite))
  );
}

/** `configured` plus `debian` from the host's apt sources when not configured. */
export async function resolveMirrors(
  configured: Readonly<Record<string, string>>,
  options: { aptDir?: string } = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = { ...configured };
  if (!Object.hasOwn(out, 'debian')) {
    const host = await hostDebianMirror(options);
    if (host !== undefined) out['debian'] = host;
  }
  return out;
}

/** Every enabled entry of the host's apt sources, in the order apt reads them. */
export async function readAptSources(aptDir: string): Promise<AptEntry[]> {
  const out: AptEntry[] = [];
  const main = await readIfExists(join(aptDir, 'sources.list'));
  if (main !== undefined) out.push(...parseOneLineSources(main));
  const dDir = join(aptDir, 'sources.list.d');
  let names: string[] = [];
  try {
    names = (await readdir(dDir)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const name of names) {
    if (!/^[A-Za-z0-9_.-]+\.(list|sources)$/.test(name)) continue;
    const text = await readIfExists(join(dDir, name));
    if (text === undefined) continue;
    out.push(...(name.endsWith('.list') ? parseOneLineSources(text) : parseDeb822Sources(text)));
  }
  return out;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') return undefined;
    throw e;
  }
}

/** `deb [opt=val …] URI suite [component…]` lines; `#` starts a comment. */
export function parseOneLineSources(text: string): AptEntry[] {
  const out: AptEntry[] = [];
  for (const raw of text.split('\n')) {
    // Options in brackets may contain spaces ("[ arch=amd64 ]"): drop them first.
    const line = raw.replace(/#.*/, '').replace(/^(\s*deb(?:-src)?\s+)\[[^\]]*\]/, '$1').trim();
    const [type, uri, suite, ...components] = line.split(/\s+/);
    if (type === undefined || uri === undefined || suite === undefined) continue;
    if (type !== 'deb' && type !== 'deb-src') continue;
    out.push({ types: [type], uris: [uri], suites: [suite], components });
  }
  return out;
}

/** deb822 stanzas separated by blank lines; `#` lines are comments; fields may continue on indented lines. */
export function parseDeb822Sources(text: string): AptEntry[] {
  const out: AptEntry[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      if (/^[ \t]/.test(line)) {
        if (last !== undefined) fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):(.*)$/.exec(line);
      if (m?.[1] === undefined) continue;
      last = m[1].toLowerCase();
      fields.set(last, (m[2] ?? '').trim());
    }
    const list = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter((s) => s !== '');
    if (/^(no|false|0)$/i.test(fields.get('enabled') ?? '')) continue;
    const entry = { types: list('types'), uris: list('uris'), suites: list('suites'), components: list('components') };
    if (entry.types.length > 0 && entry.uris.length > 0) out.push(entry);
  }
  return out;
}

/** `https://user:pass@host/path` → `https://host/path`. */
export function withoutUserinfo(url: string): string {
  const u = URL.parse(url);
  if (u === null || (u.username === '' && u.password === '')) return url;
  u.username = '';
  u.password = '';
  return u.href;
}
