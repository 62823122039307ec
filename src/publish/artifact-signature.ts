// meta.json signed for a remote binary cache (kiln serve's GET /api/v1/artifacts/{key}/
// meta.json.asc, kiln build --substitute-key): a detached, ASCII-armoured OpenPGP
// signature of the meta.json bytes as stored, made with kiln's own key (signing.ts).
// meta.json holds the archive's sha256 and the output hash the manifest must hash to, so
// the signature vouches for the whole entry. Loaded only when there is a key to use.

import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';

/** A detached, armoured signature of `data` (meta.json's bytes). */
export async function signDetached(data: Uint8Array, key: openpgp.PrivateKey): Promise<string> {
  const armored = await openpgp.sign({ message: await openpgp.createMessage({ binary: data }), signingKeys: key, detached: true });
  return armored.endsWith('\n') ? armored : `${armored}\n`;
}

/**
 * The public key(s) of a file, armoured or binary (as `kiln key export` writes either);
 * a file that cannot be read or is no key is a usage error naming `flag`.
 */
export async function readPublicKeys(path: string, flag: string): Promise<openpgp.Key[]> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new KilnError('usage', `${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      hint: 'name the public key of the kiln that serves the cache: `kiln key export -o kiln.asc` (or --binary) on that machine',
      cause: e,
    });
  }
  try {
    const armored = data.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP');
    return armored
      ? await openpgp.readKeys({ armoredKeys: data.toString('utf8') })
      : await openpgp.readKeys({ binaryKeys: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  } catch (e) {
    throw new KilnError('usage', `${flag} ${path}: not an OpenPGP public key (${(e as Error).message})`, {
      hint: 'give the file `kiln key export` writes (armoured, or --binary) on the machine whose kiln serves the cache',
      cause: e,
    });
  }
}

/**
 * Why a detached signature does not vouch for `data` with one of `keys`, or undefined
 * when it does (a good signature by one of them). Never throws.
 */
export async function detachedProblem(data: Uint8Array, armoredSignature: string, keys: readonly openpgp.Key[]): Promise<string | undefined> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature });
  } catch (e) {
    return `its signature is not an OpenPGP signature (${(e as Error).message})`;
  }
  let result: Awaited<ReturnType<typeof openpgp.verify>>;
  try {
    result = await openpgp.verify({ message: await openpgp.createMessage({ binary: data }), signature, verificationKeys: [...keys] });
  } catch (e) {
    return `its signature cannot be checked (${(e as Error).message})`;
  }
  const ids: string[] = [];
  for (const s of result.signatures) {
    ids.push(s.keyID.toHex());
    try {
      await s.verified;
      return undefined;
    } catch (e) {
      if (keys.some((k) => k.getKeys(s.keyID).length > 0)) return `BAD signature by key ${s.keyID.toHex()} (${(e as Error).message})`;
    }
  }
  return ids.length === 0 ? 'it has no signature' : `it is signed only by keys other than the one given (${ids.join(', ')})`;
}
