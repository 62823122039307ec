// Read a TOML settings file of a tree (kiln.toml, debian.toml) as text: a regular file
// (through symlinks), opened without blocking so that a named pipe in its place is an
// error instead of a hang, and valid UTF-8 (TOML is UTF-8; a Latin-1 file would parse with
// U+FFFD in its values). Anything else is a config-invalid error naming the file, or
// path-unusable when it cannot be read for want of permission.

import { KilnError } from '../errors.ts';
import { readRegularFile } from '../recipes/local-file.ts';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The text, or undefined when the bytes are not UTF-8 (a Latin-1 file would parse with U+FFFD in it). */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The file's text, or undefined when there is no such file (a dangling symlink is an error). */
export function readTomlFile(file: string, replaceHint: string): string | undefined {
  const r = readRegularFile(file);
  if (!r.ok) {
    if (r.kind === 'missing') return undefined;
    if (/permission denied/.test(r.problem)) {
      throw new KilnError('path-unusable', `${file} ${r.problem}`, { hint: 'make it readable by this user (e.g. chmod a+r), or run kiln as a user who may read it' });
    }
    throw new KilnError('config-invalid', `${file} ${r.problem}`, { hint: replaceHint });
  }
  const text = utf8OrUndefined(r.bytes);
  if (text === undefined) throw new KilnError('config-invalid', `${file} is not valid UTF-8`, { hint: 'save it as UTF-8 (TOML files are UTF-8 text)' });
  return text;
}
