import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as openpgp from 'openpgp';
import { isKilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { detachedProblem, readPublicKeys, signDetached } from './artifact-signature.ts';
import { exportPublicKey, generateSigningKey } from './signing.ts';

const meta = new TextEncoder().encode('{"key":"aa","outputHash":"bb","sha256":"cc"}\n');

test('meta.json signed detached: good with the signer\'s public key (armoured or binary file), refused with another key, altered, or with no signature', async () => {
  await using dir = await tmpDir();
  const signer = await openpgp.readPrivateKey({ armoredKey: (await generateSigningKey({ name: 'served' })).secretArmored });
  const other = await openpgp.readPrivateKey({ armoredKey: (await generateSigningKey({ name: 'other' })).secretArmored });
  await writeFile(join(dir.path, 'k.asc'), exportPublicKey(signer, { armor: true }));
  await writeFile(join(dir.path, 'k.gpg'), exportPublicKey(signer, { armor: false }));
  await writeFile(join(dir.path, 'o.asc'), exportPublicKey(other, { armor: true }));
  const sig = await signDetached(meta, signer);
  for (const f of ['k.asc', 'k.gpg']) assert.equal(await detachedProblem(meta, sig, await readPublicKeys(join(dir.path, f), '--substitute-key')), undefined, f);
  const keys = await readPublicKeys(join(dir.path, 'k.asc'), '--substitute-key');
  assert.match((await detachedProblem(meta, sig, await readPublicKeys(join(dir.path, 'o.asc'), '--substitute-key')))!, /signed only by keys other than the one given/);
  assert.match((await detachedProblem(new TextEncoder().encode('{"key":"aa","outputHash":"evil"}\n'), sig, keys))!, /BAD signature/);
  assert.match((await detachedProblem(meta, 'not a signature', keys))!, /not an OpenPGP signature/);
});

test('--substitute-key: a file that is missing or no key is a usage error naming the flag', async () => {
  await using dir = await tmpDir();
  await writeFile(join(dir.path, 'x'), 'hello');
  for (const f of ['x', 'missing']) {
    await assert.rejects(readPublicKeys(join(dir.path, f), '--substitute-key'), (e: unknown) => isKilnError(e) && e.code === 'usage' && e.message.startsWith('--substitute-key ') && /kiln key export/.test(e.hint ?? ''));
  }
});
