// What an (imported) root is: its suite from /etc/os-release (or /etc/debian_version) and
// its architecture from dpkg's status database, read from the host without running any
// of the root's programs. Paths inside the root are resolved the way the root itself would
// see them (an absolute symlink points into the root, `..` stops at its top), so a
// hostile `/etc/os-release -> /etc/shadow` cannot make kiln read the host's files.

import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_LINKS = 40;

/** The host path of `path` inside `root`, following symlinks as a chroot would; undefined if missing or looping. */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  let todo = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift() ?? '';
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let st;
    try {
      st = await lstat(host);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = await readlink(host);
    const parts = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) done.length = 0;
    todo = [...parts, ...todo];
  }
  return join(root, ...done);
}

async function readInRoot(root: string, path: string): Promise<string | undefined> {
  const host = await resolveInRoot(root, path);
  if (host === undefined) return undefined;
  try {
    return await readFile(host, 'utf8');
  } catch {
    return undefined;
  }
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] === undefined) continue;
    let v = m[2] ?? '';
    if (/^".*"$|^'.*'$/.test(v)) v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

/** The suite (codename) of a Debian-like root, or undefined when it does not say. */
export async function rootSuite(root: string): Promise<string | undefined> {
  const osr = (await readInRoot(root, '/etc/os-release')) ?? (await readInRoot(root, '/usr/lib/os-release'));
  if (osr !== undefined) {
    const f = parseOsRelease(osr);
    const codename = f['VERSION_CODENAME'] ?? f['DEBIAN_CODENAME'];
    if (codename !== undefined && codename !== '') return codename;
  }
  // Unstable/testing roots may carry only "trixie/sid".
  const dv = (await readInRoot(root, '/etc/debian_version'))?.trim();
  if (dv !== undefined && /^[a-z]+\/[a-z]+$/.test(dv)) return dv.split('/')[0];
  return undefined;
}

/** Architecture of base-files (an arch-specific essential package), else of any installed non-`all` package. */
export function archFromDpkgStatus(status: string): string | undefined {
  let fallback: string | undefined;
  for (const stanza of status.split(/\n\s*\n/)) {
    const field = (k: string): string | undefined => new RegExp(`^${k}:[ \\t]*(.*)$`, 'mi').exec(stanza)?.[1]?.trim();
    const arch = field('Architecture');
    if (arch === undefined || arch === 'all' || !/ installed$/.test(field('Status') ?? '')) continue;
    if (field('Package') === 'base-files') return arch;
    fallback ??= arch;
  }
  return fallback;
}

export async function rootArch(root: string): Promise<string | undefined> {
  const status = await readInRoot(root, '/var/lib/dpkg/status');
  return status === undefined ? undefined : archFromDpkgStatus(status);
}
