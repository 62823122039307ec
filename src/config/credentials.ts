// Credentials for private mirrors, in netrc syntax (curl's ~/.netrc, apt's auth.conf):
//
//   machine HOST[:PORT][/PATH] login USER password PASS
//
// Files, in order (the first entry that matches a url wins): the file KILN_NETRC names,
// else ~/.netrc; then apt's /etc/apt/auth.conf and /etc/apt/auth.conf.d/*.conf, so a
// private mirror the host's apt already logs in to works for kiln too; last, a user name and
// password written in a uri of the host's apt sources (`https://USER:PASS@HOST/debian`).
//
// Matching, as apt does it: HOST compares without case; PORT, when given, must be the url's
// (its scheme's default when the url has none), and any port matches otherwise; PATH, when
// given, must be a prefix of the url's path at a `/` boundary. A machine without a scheme
// applies to https only: credentials go over plain http only for a machine written
// `http://HOST…`. A `default` entry is never used: kiln sends a password only to the
// machine it is written for.
//
// The password becomes an Authorization header on kiln's own requests and nothing else: it
// is not in a url, a log, a record, an input key or a build's environment. Redirects keep
// the header only on the same origin (fetch drops it on a cross-origin redirect).
import { readFile, readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { readAptSources } from './mirrors.ts';
import { fetchFile, isFileUrl } from '../lib/file-fetch.ts';
import { guardedFetch } from '../lib/fetch-guard.ts';

export interface Credential {
  /** Only for a machine written with one. */
  readonly scheme: 'http' | 'https' | undefined;
  /** Lower case. */
  readonly host: string;
  readonly port: string | undefined;
  /** A path prefix without its trailing `/`; '' for any path. */
  readonly path: string;
  readonly login: string;
  readonly password: string;
  /** The file it came from, for messages (never the password). */
  readonly file: string;
}

/** The netrc entries of `text` that name a machine, a login and a password; others are skipped. */
export function parseNetrc(text: string, file: string): Credential[] {
  const out: Credential[] = [];
  const tokens = tokenize(text);
  let current: { machine: string | undefined; login?: string; password?: string } | undefined;
  const flush = (): void => {
    if (current?.machine === undefined || current.login === undefined || current.password === undefined) return;
    const m = parseMachine(current.machine);
    if (m !== undefined) out.push({ ...m, login: current.login, password: current.password, file });
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.word === 'machine' || t.word === 'default') {
      flush();
      current = { machine: t.word === 'machine' ? tokens[++i]?.word : undefined };
    } else if (t.word === 'login' || t.word === 'password' || t.word === 'account') {
      const value = tokens[++i]?.word;
      if (current !== undefined && value !== undefined && t.word !== 'account') current[t.word] = value;
    } else if (t.word === 'macdef') {
      // A macro runs to the next empty line: skip its body.
      flush();
      current = undefined;
      const end = text.indexOf('\n\n', t.end);
      while (i + 1 < tokens.length && (end === -1 || tokens[i + 1]!.start < end)) i++;
    }
  }
  flush();
  return out;
}

interface Token {
  readonly word: string;
  readonly start: number;
  readonly end: number;
}

/** Words separated by white space; `"…"` quotes one (with `\` escapes); `#` at a word's start comments out the rest of the line. */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"') {
      const start = i;
      let word = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        word += text[i];
        i++;
      }
      i++;
      out.push({ word, start, end: i });
    } else {
      const start = i;
      while (i < text.length && !/\s/.test(text[i]!)) i++;
      out.push({ word: text.slice(start, i), start, end: i });
    }
  }
  return out;
}

/** `[SCHEME://]HOST[:PORT][/PATH]`; undefined for what cannot be a machine. */
export function parseMachine(machine: string): Pick<Credential, 'scheme' | 'host' | 'port' | 'path'> | undefined {
  const m = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^/:[\]]+)(?::(\d+))?(\/.*)?$/.exec(machine);
  if (m === null) return undefined;
  return {
    scheme: m[1] as 'http' | 'https' | undefined,
    host: m[2]!.toLowerCase(),
    port: m[3],
    path: (m[4] ?? '').replace(/\/+$/, ''),
  };
}

/** The first credential that applies to `url`, or undefined. */
export function credentialFor(url: URL, credentials: readonly Credential[]): Credential | undefined {
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  const port = url.port !== '' ? url.port : scheme === 'https' ? '443' : '80';
  const host = url.hostname.toLowerCase();
  return credentials.find(
    (c) =>
      (c.scheme === undefined ? scheme === 'https' : c.scheme === scheme) &&
      c.host === host &&
      (c.port === undefined || c.port === port) &&
      (c.path === '' || url.pathname === c.path || url.pathname.startsWith(`${c.path}/`)),
  );
}

/** The value of the Authorization header for `c`. */
export function basicAuth(c: Credential): string {
  return `Basic ${Buffer.from(`${c.login}:${c.password}`, 'utf8').toString('base64')}`;
}

export interface CredentialSources {
  /** KILN_NETRC, when set. */
  readonly netrc: string | undefined;
  readonly home: string;
  readonly aptDir: string;
  /**
   * Read ~/.netrc when KILN_NETRC is not set (default true). A daemon does not: that file
   * is the operator's own, for curl, git and the rest, and a tenant names the urls a
   * daemon fetches; its credentials come from KILN_NETRC and apt's files only.
   */
  readonly homeNetrc?: boolean;
}

/** The files credentials are read from, in order. */
export async function credentialFiles(s: CredentialSources): Promise<string[]> {
  const named = s.netrc !== undefined && s.netrc !== '' ? s.netrc : undefined;
  const files = [...(named !== undefined ? [named] : s.homeNetrc === false ? [] : [join(s.home, '.netrc')]), join(s.aptDir, 'auth.conf')];
  try {
    const parts = (await readdir(join(s.aptDir, 'auth.conf.d'))).filter((n) => n.endsWith('.conf')).sort();
    files.push(...parts.map((n) => join(s.aptDir, 'auth.conf.d', n)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
  }
  return files;
}

/** Every credential of every file; a missing file is none, and KILN_NETRC must exist. */
export async function loadCredentials(s: CredentialSources): Promise<Credential[]> {
  const out: Credential[] = [];
  for (const file of await credentialFiles(s)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const named = s.netrc !== undefined && s.netrc !== '' && file === s.netrc;
      // apt's files are root's and 0600 as apt wants them: a user's kiln does without them.
      if ((code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' || code === 'EPERM') && !named) continue;
      throw new KilnError('config-invalid', `cannot read the credentials file ${file}: ${(e as Error).message}`, {
        hint: named ? 'KILN_NETRC names a netrc file (machine HOST login USER password PASS): fix the path, or unset it' : `check the permissions of ${file}`,
      });
    }
    out.push(...parseNetrc(text, file));
  }
  out.push(...(await aptUriCredentials(s.aptDir)));
  return out;
}

/** A user name and password written in a uri of the host's apt sources, as a credential for that uri. */
async function aptUriCredentials(aptDir: string): Promise<Credential[]> {
  const out: Credential[] = [];
  for (const entry of await readAptSources(aptDir)) {
    for (const uri of entry.uris) {
      const u = uri.includes('@') ? URL.parse(uri) : null;
      if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:') || (u.username === '' && u.password === '')) continue;
      out.push({
        scheme: u.protocol === 'http:' ? 'http' : 'https',
        host: u.hostname.toLowerCase(),
        port: u.port === '' ? undefined : u.port,
        path: u.pathname.replace(/\/+$/, ''),
        login: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        file: join(aptDir, 'sources.list'),
      });
    }
  }
  return out;
}

/** The credentials of this process's environment, read once, when first needed. */
let loaded: Promise<Credential[]> | undefined;
let homeNetrc = true;
export function processCredentials(): Promise<Credential[]> {
  if (loaded === undefined) {
    const p = loadCredentials({ netrc: process.env['KILN_NETRC'], home: process.env['HOME'] ?? homedir(), aptDir: '/etc/apt', homeNetrc });
    // A failed read is tried again at the next download (the file may be fixed meanwhile).
    p.catch(() => {
      if (loaded === p) loaded = undefined;
    });
    loaded = p;
  }
  return loaded;
}

/** For kiln serve, before its first download: ~/.netrc is not read (CredentialSources.homeNetrc). */
export function credentialsForDaemon(): void {
  homeNetrc = false;
  loaded = undefined;
}

/**
 * `base` with credentials: a request to a url that a credential matches gets its
 * Authorization header, unless it has one already.
 */
export function withCredentials(base: typeof globalThis.fetch, credentials: () => Promise<readonly Credential[]>): typeof globalThis.fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? URL.parse(input) : input instanceof URL ? input : undefined;
    if (url === null || url === undefined) return base(input, init);
    const headers = new Headers(init?.headers);
    if (!headers.has('authorization')) {
      const c = credentialFor(url, await credentials());
      if (c !== undefined) headers.set('authorization', basicAuth(c));
    }
    return base(input, { ...init, headers });
  };
}

/**
 * kiln's fetch: the global one, with the process's credentials; file: URLs are read from
 * disk; on a daemon, connections go only where its fetch policy allows (fetch-guard.ts).
 */
export const kilnFetch: typeof globalThis.fetch = withCredentials(async (input, init) => {
  if (isFileUrl(input)) return fetchFile(input, init);
  const guarded = guardedFetch();
  return guarded === undefined ? globalThis.fetch(input, init) : (await guarded)(input, init);
}, processCredentials);

/** The hint for an HTTP 401/403 from a mirror. */
export function credentialsHint(url: string): string {
  const u = URL.parse(url);
  const machine = u === null ? 'HOST' : `${u.protocol === 'http:' ? 'http://' : ''}${u.host}`;
  // A daemon's tenant cannot edit the daemon's files, and a daemon reads no ~/.netrc.
  if (!homeNetrc) return `the server wants credentials, or refused the ones kiln sent: this daemon sends only those of the file its operator names with KILN_NETRC (or apt's auth.conf); ask the operator for "machine ${machine} login USER password PASS" there`;
  return `the server wants credentials, or refused the ones kiln sent: add or fix "machine ${machine} login USER password PASS" in ~/.netrc (or the file KILN_NETRC names) or apt's auth.conf; see docs/recipes.md#private-mirrors`;
}

/** A url with a user name or password in it: refused, since it would end up in logs and records. */
export function hasUserinfo(url: string): boolean {
  if (!url.includes('@')) return false;
  const u = URL.parse(url);
  return u !== null && (u.username !== '' || u.password !== '');
}

/** What to say of a url with a user name or password in it. */
export const USERINFO_PROBLEM = 'has a user name or password in it, which kiln would print and record: write the url without it and put the credentials in ~/.netrc (machine HOST login USER password PASS), see docs/recipes.md#private-mirrors';

/** For a url given by a flag: refuse one with a user name or password in it. */
export function refuseUserinfo(flag: string, url: string | undefined): void {
  if (url === undefined || !hasUserinfo(url)) return;
  const at = URL.parse(url);
  throw new KilnError('usage', `${flag}: the url ${at === null ? '' : `for ${at.host} `}has a user name or password in it`, {
    hint: 'write the url without it and put the credentials in ~/.netrc (machine HOST login USER password PASS), or the file KILN_NETRC names; see docs/recipes.md#private-mirrors',
  });
}
