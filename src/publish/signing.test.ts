import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { verifyInRelease } from '../debian/inrelease.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createSigningKey, exportPublicKey, generateSigningKey, loadSigningKey, signingKeyPaths, signRelease } from './signing.ts';

const execFileP = promisify(execFile);
const gpgvSkip = existsSync('/usr/bin/gpgv') ? undefined : 'gpgv is not installed';

/** Run the host's gpgv: its exit status and what it printed. */
async function gpgv(keyring: string, ...files: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await execFileP('gpgv', ['--keyring', keyring, ...files], { env: { ...process.env, LC_ALL: 'C' } });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}

test('generateSigningKey: a v4 legacy EdDSA (Ed25519) signing-only key, as Debian 12 gpgv reads', async () => {
  const k = await generateSigningKey({ name: 'kiln test', email: 'kiln@example.org' });
  const key = await openpgp.readPrivateKey({ armoredKey: k.secretArmored });
  assert.equal(key.keyPacket.version, 4);
  assert.deepEqual(key.getAlgorithmInfo(), { algorithm: 'eddsaLegacy', curve: 'ed25519Legacy' });
  assert.equal(key.subkeys.length, 0);
  assert.equal(key.isDecrypted(), true);
  assert.equal(await key.getExpirationTime(), Infinity, 'no expiry: a repository must not stop verifying one day');
  assert.match(k.fingerprint, /^[0-9A-F]{40}$/);
  assert.equal(k.userId, 'kiln test <kiln@example.org>');
  await assert.rejects(generateSigningKey({ name: 'x', email: 'not an address' }), (e: unknown) => e instanceof KilnError && e.code === 'usage');
});

test('createSigningKey stores the secret 0600 in STATE/keys, refuses to overwrite without force; loadSigningKey reads it', async () => {
  await using dir = await tmpDir();
  await assert.rejects(loadSigningKey(dir.path), (e: unknown) => e instanceof KilnError && e.code === 'key-not-found' && /kiln key create/.test(e.hint ?? ''));
  const made = await createSigningKey(dir.path, { name: 'kiln' });
  const paths = signingKeyPaths(dir.path);
  assert.equal((await stat(paths.secret)).mode & 0o777, 0o600);
  assert.equal((await stat(paths.dir)).mode & 0o777, 0o700);
  // A state dir made by key create (the first command of a Debian setup) stays readable:
  // apt, as user _apt, reads the repository published under it.
  const fresh = join(dir.path, 'new-state', 'st');
  await createSigningKey(fresh, { name: 'kiln' });
  for (const d of [fresh, dirname(fresh)]) assert.equal((await stat(d)).mode & 0o005, 0o005, `${d} is readable and searchable by others`);
  assert.match(await readFile(paths.public, 'utf8'), /BEGIN PGP PUBLIC KEY BLOCK/);
  assert.doesNotMatch(await readFile(paths.public, 'utf8'), /PRIVATE/);
  await assert.rejects(createSigningKey(dir.path, { name: 'kiln' }), (e: unknown) => e instanceof KilnError && e.code === 'key-exists');
  assert.equal((await loadSigningKey(dir.path)).getFingerprint().toUpperCase(), made.fingerprint, 'the refused create left the key alone');
  const again = await createSigningKey(dir.path, { name: 'kiln' }, { force: true });
  assert.notEqual(again.fingerprint, made.fingerprint);
  assert.equal((await loadSigningKey(dir.path)).getFingerprint().toUpperCase(), again.fingerprint);
  assert.equal((await stat(paths.secret)).mode & 0o777, 0o600);

  await writeFile(paths.secret, 'garbage');
  // The way out names this state directory, as the other key hints do.
  await assert.rejects(loadSigningKey(dir.path), (e: unknown) => e instanceof KilnError && e.code === 'key-invalid'
    && /not an OpenPGP secret key/.test(e.message) && e.hint === `restore it from a backup, or make a new one with \`kiln key create --state ${dir.path} --force\``);
  const locked = await openpgp.encryptKey({ privateKey: await openpgp.readPrivateKey({ armoredKey: again.secretArmored }), passphrase: 'pw' });
  await writeFile(paths.secret, locked.armor());
  await assert.rejects(loadSigningKey(dir.path), (e: unknown) => e instanceof KilnError && e.code === 'key-invalid' && /passphrase/.test(e.message)
    && (e.hint ?? '').endsWith(`\`kiln key create --state ${dir.path} --force\``));
});

test('signRelease: InRelease and Release.gpg verify with openpgp.js; a changed byte does not', async () => {
  const k = await generateSigningKey({ name: 'kiln' });
  const key = await openpgp.readPrivateKey({ armoredKey: k.secretArmored });
  const pub = await openpgp.readKey({ armoredKey: k.publicArmored });
  const text = 'Origin: kiln\nSuite: s\nSHA256:\n ' + 'a'.repeat(64) + ' 1 main/binary-amd64/Packages\n';
  const s = await signRelease(text, key);
  assert.match(s.inRelease, /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA(256|512)\n/);
  assert.match(s.releaseGpg, /^-----BEGIN PGP SIGNATURE-----\n/);
  assert.ok(!s.inRelease.includes('\r'), 'InRelease has LF line ends, as Debian\'s');
  assert.ok(s.inRelease.includes(`\n\n${text}\n-----BEGIN PGP SIGNATURE-----\n`), 'the signed text is the Release text as given');
  const v = await verifyInRelease(s.inRelease, [pub], { source: 'InRelease' });
  assert.equal(v.text, text);
  const sig = await openpgp.readSignature({ armoredSignature: s.releaseGpg });
  const ok = await openpgp.verify({ message: await openpgp.createMessage({ binary: new TextEncoder().encode(text) }), signature: sig, verificationKeys: pub });
  await ok.signatures[0]!.verified;
  await assert.rejects(verifyInRelease(s.inRelease.replace('Suite: s', 'Suite: t'), [pub], { source: 'InRelease' }), /BAD signature/);
  const bad = await openpgp.verify({ message: await openpgp.createMessage({ binary: new TextEncoder().encode(text.replace('s\n', 't\n')) }), signature: sig, verificationKeys: pub });
  await assert.rejects(bad.signatures[0]!.verified);
  assert.equal(typeof exportPublicKey(key, { armor: true }), 'string');
  assert.ok(exportPublicKey(key, { armor: false }) instanceof Uint8Array);
});

test('the host\'s gpgv accepts InRelease and Release.gpg with the exported binary key, and refuses a changed byte', { skip: gpgvSkip }, async () => {
  await using dir = await tmpDir();
  const k = await generateSigningKey({ name: 'kiln gpgv test', email: 'kiln@example.org' });
  const key = await openpgp.readPrivateKey({ armoredKey: k.secretArmored });
  const keyring = join(dir.path, 'kiln.gpg');
  await writeFile(keyring, exportPublicKey(key, { armor: false }));
  const text = 'Origin: kiln\nLabel: kiln\nSuite: bookworm\nDate: Sun, 22 Nov 2026 02:11:07 UTC\n';
  const s = await signRelease(text, key);
  const f = (n: string): string => join(dir.path, n);
  await writeFile(f('Release'), text);
  await writeFile(f('InRelease'), s.inRelease);
  await writeFile(f('Release.gpg'), s.releaseGpg);
  const a = await gpgv(keyring, f('InRelease'));
  assert.equal(a.code, 0, a.out);
  assert.match(a.out, new RegExp(`Good signature from "kiln gpgv test <kiln@example.org>"`));
  assert.match(a.out, new RegExp(k.fingerprint));
  const b = await gpgv(keyring, f('Release.gpg'), f('Release'));
  assert.equal(b.code, 0, b.out);
  await writeFile(f('Release'), text.replace('bookworm', 'bookwork'));
  const c = await gpgv(keyring, f('Release.gpg'), f('Release'));
  assert.notEqual(c.code, 0, c.out);
  assert.match(c.out, /BAD signature/);
  await writeFile(f('InRelease'), s.inRelease.replace('Label: kiln', 'Label: kilm'));
  const d = await gpgv(keyring, f('InRelease'));
  assert.notEqual(d.code, 0, d.out);
  assert.match(d.out, /BAD signature/);
});

test('loadSigningKey: a directory where the key file should be is named as such, with a hint (not raw EISDIR text)', async () => {
  await using dir = await tmpDir();
  const { mkdir } = await import('node:fs/promises');
  await mkdir(signingKeyPaths(dir.path).secret, { recursive: true });
  await assert.rejects(loadSigningKey(dir.path), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, 'key-invalid');
    assert.equal(e.message, `${signingKeyPaths(dir.path).secret} is a directory, not kiln's signing key file`);
    assert.match(e.hint ?? '', /move that directory away.*kiln key create/);
    return true;
  });
});
