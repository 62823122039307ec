import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { clearsign, makeKey } from '../../test/fixtures/debian/archive.ts';
import { checkReleaseFor, parseRelease, readKeyring, verifyInRelease } from './inrelease.ts';

const releaseFixture = await readFile(new URL('../../test/fixtures/debian/Release', import.meta.url), 'utf8');
const key = await makeKey();
const other = await makeKey('someone else');
const refused = (re: RegExp) => (e: unknown): boolean => e instanceof KilnError && e.code === 'signature-invalid' && re.test(e.message);

test('parseRelease: suite, codename, dates, architectures, components, SHA256 list', () => {
  const r = parseRelease(releaseFixture, 'Release');
  assert.equal(r.suite, 'stable');
  assert.equal(r.codename, 'bookworm');
  assert.equal(r.date?.toISOString(), '2024-02-10T10:00:00.000Z');
  assert.equal(r.validUntil?.toISOString(), '2024-02-17T10:00:00.000Z');
  assert.deepEqual(r.architectures, ['all', 'amd64', 'arm64', 'riscv64']);
  assert.deepEqual(r.components, ['main', 'contrib', 'non-free-firmware']);
  assert.equal(r.acquireByHash, true);
  assert.equal(r.files.size, 3, 'only the SHA256 list, not MD5Sum');
  assert.deepEqual(r.files.get('main/binary-amd64/Packages.xz'), { path: 'main/binary-amd64/Packages.xz', sha256: '6'.repeat(64), size: 98765 });
  assert.throws(() => parseRelease('Suite: x\n', 'R'), /no SHA256 field/);
  assert.throws(() => parseRelease('Suite: x\nSHA256:\n 12 3 a\n', 'R'), /bad SHA256 line/);
});

test('checkReleaseFor: suite or codename must match; Valid-Until must not have passed', () => {
  const r = parseRelease(releaseFixture, 'Release');
  const now = new Date('2024-02-11T00:00:00Z');
  checkReleaseFor(r, 'bookworm', { source: 'R', now });
  checkReleaseFor(r, 'stable', { source: 'R', now });
  assert.throws(() => checkReleaseFor(r, 'trixie', { source: 'R', now }), refused(/is the Release of "bookworm", not of "trixie"/));
  assert.throws(() => checkReleaseFor(r, 'bookworm', { source: 'R', now: new Date('2024-03-01T00:00:00Z') }), refused(/expired on 2024-02-17/));
});

test('a signed Release verifies; one flipped byte, a foreign key or no signature are refused', async () => {
  const signed = await clearsign(releaseFixture, key);
  const v = await verifyInRelease(signed, [key.publicKey], { source: 'http://m.example/InRelease' });
  assert.equal(v.release.codename, 'bookworm');
  assert.deepEqual(v.signedBy, [key.publicKey.getKeyID().toHex()]);
  assert.equal(v.text, releaseFixture, 'the text that was verified');

  // Flip one byte of the signed text: "bookworm" → "bookwork".
  const tampered = signed.replace('Codename: bookworm', 'Codename: bookwork');
  assert.notEqual(tampered, signed);
  await assert.rejects(verifyInRelease(tampered, [key.publicKey], { source: 'http://m.example/InRelease' }),
    refused(/^http:\/\/m\.example\/InRelease: BAD signature by key [0-9a-f]{16}/));

  // A byte of the sums list too.
  const tampered2 = signed.replace(` ${'5'.repeat(64)}`, ` ${'5'.repeat(63)}6`);
  await assert.rejects(verifyInRelease(tampered2, [key.publicKey], { source: 'IR' }), refused(/BAD signature/));

  await assert.rejects(verifyInRelease(signed, [other.publicKey], { source: 'IR' }), refused(/signed only by keys not in the keyring/));
  await assert.rejects(verifyInRelease(releaseFixture, [key.publicKey], { source: 'IR' }), refused(/not a clearsigned OpenPGP message/));
});

test('a signature by an unknown key beside a good one is ignored, as apt does', async () => {
  const { createCleartextMessage, sign } = await import('openpgp');
  const both = await sign({ message: await createCleartextMessage({ text: releaseFixture }), signingKeys: [other.privateKey, key.privateKey] });
  const v = await verifyInRelease(both, [key.publicKey], { source: 'IR' });
  assert.deepEqual(v.signedBy, [key.publicKey.getKeyID().toHex()]);
});

test('readKeyring reads binary keyrings of several keys and armoured ones', async () => {
  await using dir = await tmpDir();
  const bin = join(dir.path, 'k.gpg');
  await writeFile(bin, Buffer.concat([key.publicKey.write(), other.publicKey.write()]));
  const keys = await readKeyring(bin);
  assert.deepEqual(keys.map((k) => k.getKeyID().toHex()), [key.publicKey.getKeyID().toHex(), other.publicKey.getKeyID().toHex()]);
  const asc = join(dir.path, 'k.asc');
  await writeFile(asc, key.publicKey.armor());
  assert.equal((await readKeyring(asc)).length, 1);
  // The archive keyring missing: install it; another keyring (an extra repository's): name one that exists.
  await assert.rejects(readKeyring('/usr/share/keyrings/kiln-test-missing.gpg'), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && /debian-archive-keyring/.test(e.hint ?? ''));
  await assert.rejects(readKeyring(join(dir.path, 'missing.gpg')), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && /cannot read the keyring .*missing\.gpg/.test(e.message) && /a keyring file that exists/.test(e.hint ?? ''));
  await writeFile(join(dir.path, 'junk.gpg'), 'not a key');
  await assert.rejects(readKeyring(join(dir.path, 'junk.gpg')), /is not an OpenPGP keyring/);
});
