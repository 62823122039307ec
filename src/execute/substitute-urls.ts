// The pure decisions of kiln build --substitute (substitute.ts does the asking): what a
// substituter URL may be, where an artifact's files are under it, what an answer means,
// and what is refused before anything is stored.

import { KilnError } from '../errors.ts';

/** The files of an entry, as kiln serve names them under /api/v1/artifacts/{key}/. */
export type EntryFile = 'meta.json' | 'meta.json.asc' | 'manifest.json' | 'pkg.tar.zst';

/**
 * A --substitute URL: the base URL of a kiln serve (http or https), without a trailing
 * slash. A user:password@ (it would be printed in every note), a query or a fragment is refused, naming the flag.
 */
export function parseSubstituteUrl(text: string, flag = '--substitute'): string {
  const hint = 'give the base URL of a kiln serve whose cache to use, e.g. --substitute https://kiln.example:8080, and its token with --substitute-token or $KILN_SUBSTITUTE_TOKEN';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KilnError('usage', `${flag} ${JSON.stringify(text)}: not a URL`, { hint });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KilnError('usage', `${flag} ${text}: only http:// and https:// URLs are served by kiln serve`, { hint });
  if (url.username !== '' || url.password !== '') throw new KilnError('usage', `${flag}: the URL holds a user name or password (not repeated here), which kiln would print in its notes`, { hint });
  if (url.search !== '' || url.hash !== '') throw new KilnError('usage', `${flag} ${text}: a query or fragment has no place in a substituter's URL`, { hint });
  return url.href.replace(/\/+$/, '');
}

/** kiln build --substitute URL, repeatable: the URLs in the order given, each once. */
export function collectSubstitute(v: string, prev: string[] = []): string[] {
  const url = parseSubstituteUrl(v);
  return prev.includes(url) ? prev : [...prev, url];
}

/** Where a file of the entry `key` is under a substituter. */
export function entryUrl(base: string, key: string, file: EntryFile): string {
  return `${base}/api/v1/artifacts/${key}/${file}`;
}

/**
 * What an HTTP status from a substituter means: `found`; `absent` (404: it has not built
 * it); `unauthorized` (401, 403: the token, for every key, so it is not asked again this
 * run); `error` (anything else: this key is built here, the next one asked again).
 */
export function answerOf(status: number): 'found' | 'absent' | 'unauthorized' | 'error' {
  if (status === 200) return 'found';
  if (status === 404) return 'absent';
  if (status === 401 || status === 403) return 'unauthorized';
  return 'error';
}

/** What is said once a run when a substituter refuses the token (naming the flag or variable to fix). */
export function unauthorizedText(url: string, status: number, tokenFrom: string | undefined): string {
  const fix = tokenFrom === undefined
    ? "give a token of that kiln serve (kiln token create NAME there) with --substitute-token TOKEN, $KILN_SUBSTITUTE_TOKEN or kiln.toml's [substitutes] token-file"
    : `the token of ${tokenFrom} was refused (unknown there, revoked or expired): ${tokenFrom.includes('token-file') ? 'put a valid one in that file, or give one with --substitute-token TOKEN' : "give another with --substitute-token TOKEN, $KILN_SUBSTITUTE_TOKEN or kiln.toml's [substitutes] token-file"}`;
  return `substituter ${url} answered ${status === 401 ? '401 unauthorized' : `${status} forbidden`}: ${fix}; not asked again this run (its packages are built here)`;
}

/**
 * What is wrong with a meta.json a substituter sent for `key` before anything else is
 * fetched (importEntry checks the whole entry again): undefined when it may be used.
 */
export function metaProblem(metaText: string, key: string): string | undefined {
  let meta: { key?: unknown; archive?: unknown; size?: unknown; outputHash?: unknown };
  try {
    meta = JSON.parse(metaText) as typeof meta;
  } catch {
    return 'its meta.json is not JSON';
  }
  if (meta === null || typeof meta !== 'object') return 'its meta.json is not a JSON object';
  if (meta.key !== key) return `its meta.json is for ${String(meta.key).slice(0, 16)}, not this key`;
  if (typeof meta.outputHash !== 'string') return 'its meta.json names no output hash';
  if (meta.archive !== null && (typeof meta.size !== 'number' || !Number.isSafeInteger(meta.size) || meta.size < 0)) return 'its meta.json names no archive size';
  return undefined;
}
