// kiln's own OpenPGP key, which signs the apt repositories it publishes (InRelease and
// Release.gpg), kept in the state dir:
//
//   keys/repo-signing.key      the secret key, ASCII-armoured, not passphrase-protected
//                              (kiln signs unattended after every run), mode 0600
//   keys/repo-signing.pub.asc  the public key, for `kiln key export` and for users
//
// The key type is the one every apt since Debian 10 verifies: a v4 EdDSA key on Ed25519
// (openpgp.js 6 calls it `curve25519Legacy`: primary ed25519Legacy / algorithm
// eddsaLegacy). v6 keys and the RFC 9580 Ed25519 algorithm (27) are refused by Debian 12's
// gpgv 2.2, so they are never made here. The key signs only: no encryption subkey.

import { chmod, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { atomicWrite } from '../lib/atomic-write.ts';

import { signingKeyPaths, type SigningKeyPaths } from './signing-paths.ts';

export { signingKeyPaths, type SigningKeyPaths } from './signing-paths.ts';

export interface KeyIdentity {
  readonly name: string;
  /** Optional: openpgp.js checks it is an address (x@y.z). */
  readonly email?: string;
}

export const DEFAULT_KEY_NAME = 'kiln repository signing key';

export interface GeneratedKey {
  readonly secretArmored: string;
  readonly publicArmored: string;
  /** 40 hex digits, upper case as gpg prints it. */
  readonly fingerprint: string;
  readonly userId: string;
}

/** Make a signing-only v4 Ed25519 (legacy EdDSA) key. */
export async function generateSigningKey(identity: KeyIdentity, options: { date?: Date } = {}): Promise<GeneratedKey> {
  let generated: { privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey };
  try {
    generated = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [identity.email === undefined ? { name: identity.name } : { name: identity.name, email: identity.email }],
      subkeys: [],
      format: 'object',
      ...(options.date === undefined ? {} : { date: options.date }),
      // v4 keys and signatures: what Debian 12's gpgv (2.2) reads.
      config: { v6Keys: false },
    });
  } catch (e) {
    throw new KilnError('usage', `cannot make a key for "${identity.name}"${identity.email === undefined ? '' : ` <${identity.email}>`}: ${(e as Error).message}`, {
      hint: 'give --email a full address such as builds@example.org, or leave it out',
      cause: e,
    });
  }
  const { privateKey, publicKey } = generated;
  return {
    secretArmored: privateKey.armor(),
    publicArmored: publicKey.armor(),
    fingerprint: privateKey.getFingerprint().toUpperCase(),
    userId: privateKey.users[0]?.userID?.userID ?? identity.name,
  };
}

/**
 * Make kiln's key and store it in `stateRoot/keys/`. Refuses to replace an existing key
 * unless `force` (a new key makes every repository signed with the old one unverifiable).
 */
export async function createSigningKey(
  stateRoot: string,
  identity: KeyIdentity,
  options: { force?: boolean; date?: Date } = {},
): Promise<GeneratedKey & { paths: SigningKeyPaths }> {
  const paths = signingKeyPaths(stateRoot);
  if (options.force !== true && existsSync(paths.secret)) {
    throw new KilnError('key-exists', `kiln already has a signing key in ${paths.secret}`, {
      hint: 'keep it (`kiln key export` prints it), or pass --force to replace it: repositories signed with the old key then need re-publishing and users the new key',
    });
  }
  const key = await generateSigningKey(identity, options);
  // The state dir (made here when `kiln key create` comes first) keeps the usual mode:
  // a recursive mkdir would give it 0700 too, and apt (user _apt) could not then read the
  // repository published under it.
  await mkdir(dirname(paths.dir), { recursive: true });
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await chmod(paths.dir, 0o700);
  await atomicWrite(paths.secret, key.secretArmored, { mode: 0o600 });
  await atomicWrite(paths.public, key.publicArmored, { mode: 0o644 });
  return { ...key, paths };
}

/** The stored secret key, ready to sign. */
export async function loadSigningKey(stateRoot: string): Promise<openpgp.PrivateKey> {
  const paths = signingKeyPaths(stateRoot);
  let text: string;
  try {
    text = await readFile(paths.secret, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KilnError('key-not-found', `kiln has no signing key in ${paths.dir}`, {
        hint: `make one with \`kiln key create --state ${stateRoot}\``,
      });
    }
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new KilnError('key-invalid', `${paths.secret} is a directory, not kiln's signing key file`, {
        hint: `move that directory away, then restore the key file from a backup or make a new key with \`kiln key create --state ${stateRoot}\``,
        cause: e,
      });
    }
    const code = (e as NodeJS.ErrnoException).code;
    throw new KilnError('key-invalid', `cannot read the signing key ${paths.secret}: ${code ?? (e as Error).message}`, {
      hint: 'check that file and its permissions: the user running kiln must be able to read it (mode 0600)',
      cause: e,
    });
  }
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: text });
  } catch (e) {
    throw new KilnError('key-invalid', `${paths.secret} is not an OpenPGP secret key: ${(e as Error).message}`, {
      hint: `restore it from a backup, or make a new one with \`kiln key create --state ${stateRoot} --force\``,
      cause: e,
    });
  }
  if (!key.isDecrypted()) {
    throw new KilnError('key-invalid', `${paths.secret} is passphrase-protected; kiln signs unattended and needs it unprotected`, {
      hint: `export it without a passphrase (gpg --export-secret-keys after removing it with gpg --passwd), or make a new one with \`kiln key create --state ${stateRoot} --force\``,
    });
  }
  return key;
}

/** The public half: ASCII-armoured text, or binary packets (a keyring for apt's signed-by). */
export function exportPublicKey(key: openpgp.PrivateKey | openpgp.PublicKey, options: { armor: boolean }): string | Uint8Array {
  const pub = key.isPrivate() ? key.toPublic() : key;
  return options.armor ? pub.armor() : pub.write();
}

export interface ReleaseSignatures {
  /** The clearsigned Release (InRelease). */
  readonly inRelease: string;
  /** A detached, ASCII-armoured signature of Release (Release.gpg). */
  readonly releaseGpg: string;
}

/** Sign a Release text both ways apt reads. */
export async function signRelease(text: string, key: openpgp.PrivateKey, options: { date?: Date } = {}): Promise<ReleaseSignatures> {
  const date = options.date === undefined ? {} : { date: options.date };
  const inRelease = await openpgp.sign({
    message: await openpgp.createCleartextMessage({ text }),
    signingKeys: key,
    ...date,
  });
  const releaseGpg = await openpgp.sign({
    message: await openpgp.createMessage({ binary: new TextEncoder().encode(text) }),
    signingKeys: key,
    detached: true,
    ...date,
  });
  return { inRelease: withNewline(lfCleartext(inRelease)), releaseGpg: withNewline(releaseGpg) };
}

/**
 * openpgp.js writes the signed text of a clearsigned message with CRLF line ends; Debian's
 * InRelease files have LF, and tools other than apt and gpgv would keep the CR in every
 * field. The signature is over the canonical text (CRLF by definition, RFC 4880 7.1), so
 * LF line ends leave it valid.
 */
function lfCleartext(armored: string): string {
  const at = armored.indexOf('\n-----BEGIN PGP SIGNATURE-----');
  return at < 0 ? armored : armored.slice(0, at).replaceAll('\r\n', '\n') + armored.slice(at);
}

/** Whether an InRelease text is signed by `key` (its primary key or a subkey); false when unreadable. */
export async function signedBy(inRelease: string, key: openpgp.PrivateKey): Promise<boolean> {
  try {
    const message = await openpgp.readCleartextMessage({ cleartextMessage: inRelease });
    const ours = new Set(key.getKeyIDs().map((id) => id.toHex()));
    return message.getSigningKeyIDs().some((id) => ours.has(id.toHex()));
  } catch {
    return false;
  }
}

function withNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}

