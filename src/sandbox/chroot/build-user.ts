// The unprivileged build user (uid/gid 64000, `kiln`) must have a name inside the root:
// tools like whoami, id -un, ssh, git and some test suites look it up. When the env's
// topmost /etc/passwd or /etc/group lacks it, the sandbox's upper layer gets a copy
// with the entry added (the env itself is never written).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_GID, BUILD_UID, INSIDE_ROOT } from './scripts.ts';

export const BUILD_USER = 'kiln';

export async function ensureBuildUser(lowers: readonly string[], upper: string): Promise<void> {
  await addLine(lowers, upper, 'etc/passwd', (fields) => fields[2] === String(BUILD_UID),
    `${BUILD_USER}:x:${BUILD_UID}:${BUILD_GID}:kiln build user:${INSIDE_ROOT}/home:/bin/sh`, 'root:x:0:0:root:/root:/bin/sh');
  await addLine(lowers, upper, 'etc/group', (fields) => fields[2] === String(BUILD_GID),
    `${BUILD_USER}:x:${BUILD_GID}:`, 'root:x:0:');
}

async function addLine(
  lowers: readonly string[],
  upper: string,
  rel: string,
  matches: (fields: string[]) => boolean,
  line: string,
  rootLine: string,
): Promise<void> {
  let text: string | undefined;
  // The topmost layer that has the file wins, as in the overlay.
  for (const layer of [...lowers].reverse()) {
    text = await readFile(join(layer, rel), 'utf8').catch(() => undefined);
    if (text !== undefined) break;
  }
  const lines = (text ?? `${rootLine}\n`).split('\n').filter((l) => l !== '');
  if (lines.some((l) => matches(l.split(':')))) return;
  await mkdir(join(upper, 'etc'), { recursive: true, mode: 0o755 });
  await writeFile(join(upper, rel), `${[...lines, line].join('\n')}\n`, { mode: 0o644 });
}
