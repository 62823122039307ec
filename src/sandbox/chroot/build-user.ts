// The unprivileged build user (uid/gid 64000, `kiln`) must have a name inside the root:
// tools like whoami, id -un, ssh, git and some test suites look it up. When the env's
// topmost /etc/passwd or /etc/group lacks it, the sandbox's upper layer gets a copy
// with the entry added (the env itself is never written).
//
// The entry's home is the HOME the build is given: `/kiln/home` for kiln recipes, and for
// Debian builds the nonexistent HOME they run with (as sbuild points its build user's
// passwd home at /sbuild-nonexistent), so that a tool that reads the home from passwd
// (getpwuid, `~user`, Python's expanduser without HOME) gets the same answer as $HOME.
// withBuildUser() is the pure decision, shared by the rootless backend.

import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_GID, BUILD_UID, INSIDE_ROOT } from './scripts.ts';

export const BUILD_USER = 'kiln';
/** The build user's home when the run says nothing else (kiln recipes' writable HOME). */
export const DEFAULT_BUILD_HOME = `${INSIDE_ROOT}/home`;
const ROOT_PASSWD = 'root:x:0:0:root:/root:/bin/sh';

/** The home a passwd entry can carry for a run's HOME: absolute, no `:` or newline; else the default. */
export function passwdHome(home: string | undefined): string {
  return home !== undefined && home.startsWith('/') && !/[:\n]/.test(home) ? home : DEFAULT_BUILD_HOME;
}

/**
 * passwd text with the build user (name `kiln`, uid/gid given) at `home`: its line added
 * when no entry has the uid, its home field changed when the entry is kiln's own. An entry
 * of the env's own with that uid (another name) is left as it is. undefined: no change.
 */
export function withBuildUser(text: string | undefined, ids: { uid: number; gid: number }, home: string): string | undefined {
  const line = `${BUILD_USER}:x:${ids.uid}:${ids.gid}:kiln build user:${home}:/bin/sh`;
  const lines = (text ?? `${ROOT_PASSWD}\n`).split('\n').filter((l) => l !== '');
  const at = lines.findIndex((l) => l.split(':')[2] === String(ids.uid));
  if (at < 0) return `${[...lines, line].join('\n')}\n`;
  const fields = lines[at]!.split(':');
  if (fields[0] !== BUILD_USER || fields[5] === home) return text === undefined ? `${lines.join('\n')}\n` : undefined;
  fields[5] = home;
  return `${lines.map((l, i) => (i === at ? fields.join(':') : l)).join('\n')}\n`;
}

export async function ensureBuildUser(lowers: readonly string[], upper: string): Promise<void> {
  const passwd = await topmost(lowers, 'etc/passwd');
  if (!passwd.split('\n').some((l) => l.split(':')[2] === String(BUILD_UID))) {
    await writeEtc(upper, 'etc/passwd', withBuildUser(passwd === '' ? undefined : passwd, { uid: BUILD_UID, gid: BUILD_GID }, DEFAULT_BUILD_HOME)!);
  }
  const group = await topmost(lowers, 'etc/group');
  if (!group.split('\n').some((l) => l.split(':')[2] === String(BUILD_GID))) {
    const lines = (group === '' ? 'root:x:0:\n' : group).split('\n').filter((l) => l !== '');
    await writeEtc(upper, 'etc/group', `${[...lines, `${BUILD_USER}:x:${BUILD_GID}:`].join('\n')}\n`);
  }
  // A locked password, as useradd leaves one: su and PAM's account check refuse a user
  // that /etc/shadow lacks (autopkgtest runs a test as the build user with su). Not when
  // the uid is the env's own user's, under another name.
  const envOwn = passwd.split('\n').some((l) => l.split(':')[2] === String(BUILD_UID) && l.split(':')[0] !== BUILD_USER);
  const shadow = envOwn ? undefined : await topmostWithOwner(lowers, 'etc/shadow');
  const added = shadow === undefined ? undefined : withShadowEntry(shadow.text);
  if (shadow !== undefined && added !== undefined) {
    await writeEtc(upper, 'etc/shadow', added, 0o640);
    await chown(join(upper, 'etc/shadow'), shadow.uid, shadow.gid);
  }
}

/** shadow text with the build user's locked entry added, or undefined when it has one (pure). */
export function withShadowEntry(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.some((l) => l.split(':')[0] === BUILD_USER)) return undefined;
  return `${[...lines, `${BUILD_USER}:!::0:99999:7:::`].join('\n')}\n`;
}

/**
 * Points the build user's passwd home at `home` (a run's HOME; see passwdHome) in the
 * sandbox's upper layer, where ensureBuildUser put the entry. Called before each run as
 * the build user: /etc/passwd of the upper layer may have changed since (apt's adduser in
 * a root run), so it is read again. An env that has its own entry for uid 64000 is left alone.
 */
export async function setBuildUserHome(upper: string, home: string | undefined): Promise<void> {
  const file = join(upper, 'etc/passwd');
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const changed = withBuildUser(text, { uid: BUILD_UID, gid: BUILD_GID }, passwdHome(home));
  if (changed !== undefined) await writeFile(file, changed, { mode: 0o644 });
}

/** The file of the topmost layer that has it (as the overlay shows it), '' when none has. */
async function topmost(lowers: readonly string[], rel: string): Promise<string> {
  for (const layer of [...lowers].reverse()) {
    const text = await readFile(join(layer, rel), 'utf8').catch(() => undefined);
    if (text !== undefined) return text;
  }
  return '';
}

/** As topmost(), with the file's owner; undefined when no layer has it. */
async function topmostWithOwner(lowers: readonly string[], rel: string): Promise<{ text: string; uid: number; gid: number } | undefined> {
  for (const layer of [...lowers].reverse()) {
    const file = join(layer, rel);
    const [text, st] = await Promise.all([readFile(file, 'utf8').catch(() => undefined), stat(file).catch(() => undefined)]);
    if (text !== undefined && st !== undefined) return { text, uid: st.uid, gid: st.gid };
  }
  return undefined;
}

async function writeEtc(upper: string, rel: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(join(upper, 'etc'), { recursive: true, mode: 0o755 });
  await writeFile(join(upper, rel), text, { mode });
}
