// meta.json signed for a remote binary cache (kiln serve's GET /api/v1/artifacts/{key}/
// meta.json.asc, kiln build --substitute-key): a detached, ASCII-armoured OpenPGP
// signature of the meta.json bytes as stored, made with kiln's own key (signing.ts).
// meta.json holds the archive's sha256 and the output hash the manifest must hash to, so
// the signature vouches for the whole entry. Loaded only when there is a key to use.

import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { readKeyring } from '../debian/inrelease.ts';

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
  // The keyring reader the Debian suites use (armoured or binary), its errors said for the flag.
  return readKeyring(path).catch((e: unknown) => {
    const code = ((e as { cause?: NodeJS.ErrnoException }).cause as NodeJS.ErrnoException | undefined)?.code;
    const unread = e instanceof KilnError && e.message.startsWith('cannot read the keyring');
    throw new KilnError('usage', unread ? `${flag} ${path}: cannot read it (${code ?? (e as Error).message})` : `${flag} ${path}: not an OpenPGP public key (${String((e as Error).message).replace(`${path} is not an OpenPGP keyring: `, '')})`, {
      hint: unread
        ? 'name the public key of the kiln that serves the cache: `kiln key export -o kiln.asc` (or --binary) on that machine'
        : 'give the file `kiln key export` writes (armoured, or --binary) on the machine whose kiln serves the cache',
      cause: e,
    });
  });
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
