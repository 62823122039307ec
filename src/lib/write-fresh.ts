// Writing a file kiln makes in a folder a build could write to (a kept workspace): never
// through what is already there. A link planted at the name would have kiln (root, maybe)
// write through it: the text goes to a new file with a random name (O_EXCL: no link is
// followed), which is then renamed over the name (a rename replaces a link, it does not
// follow it).

import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

export function writeFreshSync(file: string, text: string, mode: number): void {
  const aside = `${file}.kiln-${randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(aside, text, { mode, flag: 'wx' });
    renameSync(aside, file);
  } finally {
    rmSync(aside, { force: true });
  }
}
