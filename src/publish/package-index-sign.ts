// The package index signed: when the state directory has kiln's signing key (`kiln key
// create`, the one that signs its apt repositories), every write of packages/index.json
// also writes packages/index.json.asc, the same JSON clearsigned (as a Debian InRelease is
// its Release): one file, written atomically, so a reader never pairs an index with the
// signature of another. Each entry holds its archive's sha256, so the signature vouches
// for every package the index lists. Without a key, no signature (and none left over).

import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { atomicWrite } from '../lib/atomic-write.ts';
import { signingKeyPaths } from './signing-paths.ts';

/** The clearsigned index beside `indexPath`. */
export function signedIndexPath(indexPath: string): string {
  return `${indexPath}.asc`;
}

/** Sign the index as written now, or remove a signature of an older one when there is no key; whether it signed. */
export async function signPackageIndex(indexPath: string, stateRoot: string): Promise<boolean> {
  const signed = signedIndexPath(indexPath);
  if (!existsSync(signingKeyPaths(stateRoot).secret)) {
    await rm(signed, { force: true });
    return false;
  }
  try {
    // openpgp is loaded only when there is a key to sign with.
    const { loadSigningKey, signRelease } = await import('./signing.ts');
    const key = await loadSigningKey(stateRoot);
    const text = await readFile(indexPath, 'utf8');
    // Without its last newline: the clearsigned form adds one back (gpgv --output gives the file as it is).
    await atomicWrite(signed, (await signRelease(text.replace(/\n$/, ''), key)).inRelease);
    return true;
  } catch (e) {
    // Never the signature of an older index beside a new one: a reader checking it would take old packages.
    await rm(signed, { force: true });
    throw e;
  }
}

/** signPackageIndex for a step that must not fail for it (a build that is done, cache gc): what went wrong, said, or undefined. */
export async function trySignPackageIndex(indexPath: string, stateRoot: string): Promise<string | undefined> {
  try {
    await signPackageIndex(indexPath, stateRoot);
    return undefined;
  } catch (e) {
    const hint = e instanceof Error && 'hint' in e && typeof e.hint === 'string' ? ` (${e.hint})` : '';
    return `the package index ${indexPath} is not signed: ${(e as Error).message}${hint}; its old signature is removed; once the key is readable again, the index is signed at its next write (a build that changes it, cache gc) — do not make a new key for this: clients trust the one they have`;
  }
}
