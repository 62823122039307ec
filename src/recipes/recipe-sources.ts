// A recipe's [[sources]]: what each must look like (url scheme, sha256, git rev, a safe
// dest), checked one by one with every problem reported, and the drafts the scan
// hashes and the fetch phase reads. Pure, and light: the fetch phase imports it too.

import { posix } from 'node:path';
import { hasUserinfo, USERINFO_PROBLEM } from '../config/credentials.ts';

export interface DraftSource {
  readonly url: string;
  readonly sha256: string | undefined;
  readonly dest: string;
  readonly strip: number;
  /** For file: urls, the path relative to the recipe folder. */
  readonly localPath: string | undefined;
  /** For git+ urls, the commit (40 hex digits). */
  readonly rev?: string;
}

const ARCHIVE_RE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.bz2|tbz2?|tar\.zst|tzst|tar\.lz|tar\.lzma)$/;
/** The archive suffixes, for messages. */
const ARCHIVE_SUFFIXES = '.tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2, .tbz, .tar.zst, .tzst, .tar.lz or .tar.lzma';
const SHA256_RE = /^[0-9a-f]{64}$/;
const COMMIT_RE = /^[0-9a-f]{40}$/;

/** A git source: `git+https://`, `git+http://`, `git+file:///`, `git+mirror://`. */
export function isGitUrl(url: string): boolean {
  return url.startsWith('git+');
}

/** What is wrong with a git source's url, or undefined (pure). */
export function gitUrlProblem(url: string): string | undefined {
  const rest = url.slice('git+'.length);
  if (/^https?:\/\//.test(rest)) return urlProblem(rest) ?? (hasUserinfo(rest) ? USERINFO_PROBLEM : undefined);
  if (rest.startsWith('mirror://')) return /^mirror:\/\/[a-z0-9][a-z0-9_-]*\/./i.test(rest) && !/\s/.test(rest) ? undefined : `"${url}" must look like git+mirror://NAME/path`;
  if (rest.startsWith('file:')) {
    return /^file:\/\/\/[^\s]/.test(rest) && !rest.split('/').includes('..') ? undefined : `"${url}" must name a repository by its absolute path: git+file:///PATH (three slashes, no "..", spaces as %20)`;
  }
  return `"${url}" has an unsupported scheme: use git+https://, git+http://, git+file:/// or git+mirror://NAME/`;
}

/** What is wrong with a git source's rev (pure); `url` for the hint. */
export function gitRevProblem(rev: string, url: string): string | undefined {
  if (COMMIT_RE.test(rev)) return undefined;
  const remote = url.slice('git+'.length);
  const how = `\`git ls-remote ${remote} REF\` prints the commit a branch or tag names`;
  if (/^[0-9a-fA-F]{40}$/.test(rev)) return `"${rev}" must be written in lowercase`;
  if (/^[0-9a-f]{4,39}$/.test(rev)) return `"${rev}" is an abbreviated commit id: write all 40 hex digits (${how})`;
  return `"${rev}" is not a commit id: pin the commit (40 hex digits), not a branch or tag, so the source cannot change under the recipe; ${how}`;
}

export function isArchiveUrl(url: string): boolean {
  return ARCHIVE_RE.test(url.replace(/[?#].*$/, ''));
}

/**
 * A relative path that stays inside its base: no absolute path, no NUL, and no `..` segment
 * at all, not even one that comes back down (`a/../b`): what the docs promise, and what
 * needs no thought about symlinks on the way.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.includes('\0') || p.startsWith('/') || p.startsWith('\\')) return false;
  return !p.split('/').includes('..');
}

/** What is wrong with an http(s):// or mirror:// source url, or undefined: it must parse, with a host (or mirror name), and hold no space. */
export function urlProblem(url: string): string | undefined {
  if (/\s/.test(url)) return `${JSON.stringify(url)} holds a space or other blank: write it as %20`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a valid URL: write it as https://HOST/path`;
  }
  if (u.hostname === '') return `${JSON.stringify(url)} has no host: write it as https://HOST/path`;
  return undefined;
}

/** Reports one problem of a recipe: the key (e.g. `sources[0].url`) and what is wrong. */
export type AddProblem = (key: string, message: string) => void;

/** The recipe's `sources` array as drafts, every problem of each source reported through `add`. */
export function sourcesOf(value: unknown, folderName: string, add: AddProblem): DraftSource[] {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const sources: DraftSource[] = [];
  /** $SRCDIR/DEST/NAME → the plain-file source copied there first. */
  const copiedTo = new Map<string, { i: number; url: string }>();
  if (Array.isArray(value)) {
  value.forEach((s, i) => {
    if (s === null || typeof s !== 'object') return;
    const src = s as Record<string, unknown>;
    const url = str(src['url']);
    const sha = str(src['sha256']);
    const rev = str(src['rev']);
    const dest = str(src['dest']) ?? '';
    const k = `sources[${i}]`;
    if (dest !== '' && !isSafeRelativePath(dest)) {
      const norm = posix.normalize(dest);
      const leaves = dest.startsWith('/') || norm === '..' || norm.startsWith('../');
      add(`${k}.dest`, `"${dest}" ${leaves ? 'leaves $SRCDIR' : 'holds a ".." segment'}: use a relative path without ".."`);
    }
    const git = url !== undefined && isGitUrl(url);
    if (git && sha !== undefined) add(`${k}.sha256`, 'a git source takes no sha256: its rev (the commit id) pins the content; remove sha256');
    else if (sha !== undefined && !SHA256_RE.test(sha)) add(`${k}.sha256`, `"${sha}" is not a sha256 (64 lowercase hex digits)`);
    if (url === undefined) return;
    if (!git && rev !== undefined) add(`${k}.rev`, 'only a git source (url = "git+https://HOST/REPO.git") takes a rev: remove it');
    let localPath: string | undefined;
    if (git) {
      const problem = gitUrlProblem(url);
      if (problem !== undefined) add(`${k}.url`, problem);
      if (rev === undefined) add(`${k}.rev`, `missing: a git source needs rev = "<commit id>" (40 hex digits; \`git ls-remote ${url.slice('git+'.length)} HEAD\` prints the commit of the default branch)`);
      else {
        const bad = gitRevProblem(rev, url);
        if (bad !== undefined) add(`${k}.rev`, bad);
      }
    } else if (url.startsWith('file:')) {
      localPath = url.slice('file:'.length);
      if (localPath === '' || !isSafeRelativePath(localPath)) {
        add(`${k}.url`, `"${url}" must name a file inside the recipe folder (file:NAME, relative, without "..")`);
        localPath = undefined;
      }
    } else if (/^(https?|mirror):\/\//.test(url)) {
      if (url.startsWith('mirror://')) {
        if (!/^mirror:\/\/[a-z0-9][a-z0-9_-]*\/./i.test(url) || /\s/.test(url)) add(`${k}.url`, `"${url}" must look like mirror://NAME/path (NAME a mirror of kiln.toml's [mirrors], or debian; blanks written %20)`);
      } else {
        const problem = urlProblem(url);
        if (problem !== undefined) add(`${k}.url`, problem);
      }
      if (sha === undefined) add(`${k}.sha256`, `missing: every ${url.split(':')[0]}:// source needs its sha256 (\`kiln fetch --makesum ${folderName}\` fetches the file and writes its sha256 in)`);
      if (hasUserinfo(url)) add(`${k}.url`, USERINFO_PROBLEM);
    } else {
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
      const known = scheme !== undefined && ['http', 'https', 'mirror', 'file'].includes(scheme.toLowerCase());
      add(`${k}.url`, known && scheme !== scheme.toLowerCase()
        ? `"${url}": write the scheme in lowercase (${scheme.toLowerCase()}:)`
        : known
          ? `"${url}" must start with ${scheme!.toLowerCase()}:// (two slashes)`
          : `"${url}" has an unsupported scheme: use file:, https://, http://, mirror://NAME/ or git+https://`);
    }
    // A plain file is copied, not extracted: a strip on it would be silently without effect.
    if (src['strip'] !== undefined && !git && !isArchiveUrl(url)) {
      add(`${k}.strip`, `"${url}" is not an archive (its name does not end in ${ARCHIVE_SUFFIXES}), so it is copied as it is and strip does nothing: remove strip, or name the archive with its suffix`);
    }
    const strip = typeof src['strip'] === 'number' ? src['strip'] : !git && isArchiveUrl(url) ? 1 : 0;
    sources.push({ url, sha256: git ? undefined : sha, dest, strip, localPath, ...(git && rev !== undefined ? { rev } : {}) });
    // A plain file is copied to $SRCDIR/DEST/NAME: two of them there, and the later replaces the earlier unseen.
    if (!git && !isArchiveUrl(url)) {
      const target = posix.join(dest, posix.basename(url.replace(/[?#].*$/, '').replace(/^file:/, '')));
      const earlier = copiedTo.get(target);
      if (earlier !== undefined) add(`${k}.dest`, `"${url}" is copied to $SRCDIR/${target}, as sources[${earlier.i}] ("${earlier.url}") is: the later would replace the earlier; give one of them a dest of its own`);
      else copiedTo.set(target, { i, url });
    }
  });
  }
  return sources;
}
