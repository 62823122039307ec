// The package index of recipe builds, signed: once the state dir has kiln's key (kiln key
// create), packages/index.json.asc is the index clearsigned, and gpgv (what apt uses)
// verifies it with the exported public key; the verified text is index.json.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

const noGpgv = existsSync('/usr/bin/gpgv') ? undefined : 'no gpgv on this machine';

test('kiln key create signs the package index; later builds sign each new index; gpgv verifies it', { skip: noGpgv }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const put = async (name: string, body: string): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script: `mkdir -p "$DESTDIR/usr/share/${name}"; echo ${body} > "$DESTDIR/usr/share/${name}/f"` }));
  };
  await put('one', 'first');
  const index = join(state, 'packages', 'index.json');
  const first = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host']);
  assert.equal(first.code, 0, explain(first));
  assert.ok(!existsSync(`${index}.asc`), 'no key yet: no signature');
  const key = await runKiln(['key', 'create', '--state', state, '--email', 'builds@kiln.example']);
  assert.equal(key.code, 0, explain(key));
  assert.match(key.stdout, /signed the package index: .*index\.json\.asc/);
  const keyring = join(dir.path, 'kiln.gpg');
  assert.equal((await runKiln(['key', 'export', '--binary', '-o', keyring, '--state', state])).code, 0);
  const verify = (): string => execFileSync('gpgv', ['--keyring', keyring, '--output', '-', `${index}.asc`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(verify(), readFileSync(index, 'utf8'));
  // A build that changes the index signs it again: the signature is of the new index.
  await put('two', 'second');
  const second = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host']);
  assert.equal(second.code, 0, explain(second));
  assert.match(readFileSync(index, 'utf8'), /"name": "two"/);
  assert.equal(verify(), readFileSync(index, 'utf8'));
  // Tampered with, it does not verify.
  const tampered = join(dir.path, 'tampered.asc');
  await writeFile(tampered, readFileSync(`${index}.asc`, 'utf8').replace('"name": "two"', '"name": "evil"'));
  assert.throws(() => execFileSync('gpgv', ['--keyring', keyring, tampered], { stdio: 'pipe' }));
});
