// The suite's keyring through the real CLI: a small archive signed by a key of its own (as a
// Debian derivative's or debian-ports' is) served on localhost. `kiln plan --debian` refuses
// it with Debian's archive keyring, saying to give --keyring; plans it with --keyring FILE
// (ASCII-armoured) or debian.toml's keyring; refuses a keyring without the archive's key
// naming that file; and a missing or non-key keyring is a usage error naming the flag or key.
// A snapshot mirror (its Release past its Valid-Until) is refused with a hint, and plans with
// --no-check-valid-until or debian.toml's check-valid-until = false.

import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clearsign, makeKey, releaseText, serveArchive } from '../fixtures/debian/archive.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

const fixtures = new URL('../fixtures/debian/', import.meta.url);
// A plan makes the env it would build in when it is missing (as root, with mmdebstrap): an
// empty one of the suite, imported, stands for it (importing takes root too).
const skip = process.getuid?.() === 0 ? false : 'kiln env import (for the env a plan wants) needs root';
const key = await makeKey('derivative archive');

async function archive(release: Record<string, string> = {}) {
  const listed = new Map<string, Uint8Array>([
    ['main/source/Sources.gz', gzipSync(await readFile(new URL('Sources', fixtures)))],
    ['main/binary-amd64/Packages.gz', gzipSync(await readFile(new URL('Packages', fixtures)))],
  ]);
  const files = new Map<string, Uint8Array>([['/debian/dists/testsuite/InRelease', Buffer.from(await clearsign(releaseText(listed, release), key))]]);
  for (const [p, data] of listed) files.set(`/debian/dists/testsuite/${p}`, data);
  return serveArchive(files);
}

/** The env a plan of testsuite wants, in DIR/state: an empty root of the suite, imported. */
async function importTestsuiteEnv(dir: string): Promise<void> {
  await mkdir(join(dir, 'root', 'etc'), { recursive: true });
  execFileSync('tar', ['-C', join(dir, 'root'), '-cf', join(dir, 'root.tar'), '.']);
  const imported = await runKiln(['env', 'import', 'testsuite-amd64', join(dir, 'root.tar'), '--suite', 'testsuite', '--arch', 'amd64', '--state', join(dir, 'state')]);
  assert.equal(imported.code, 0, explain(imported));
}

test('--keyring / debian.toml keyring: the suite of an archive signed by another key than Debian\'s plans with its keyring, and is refused without it', { skip, timeout: 120_000 }, async () => {
  await using dir = await tmpDir('kiln-keyring-it-');
  await importTestsuiteEnv(dir.path);
  await using srv = await archive();
  const asc = join(dir.path, 'derivative.asc');
  await writeFile(asc, key.publicKey.armor());
  const common = ['plan', '--debian', 'testsuite', 'hello', '--mirror', srv.base, '--arch', 'amd64', '--no-install-check', '--state', join(dir.path, 'state'), '--cache', join(dir.path, 'cache')];

  const withKey = await runKiln([...common, '--keyring', asc]);
  assert.equal(withKey.code, 0, explain(withKey));
  assert.match(withKey.stdout, /hello/, explain(withKey));

  // Debian's archive keyring (the default) does not hold the archive's key.
  const without = await runKiln(common);
  assert.equal(without.code, 1, explain(without));
  assert.match(without.stderr, /error \[signature-invalid\]: \S+\/dists\/testsuite\/InRelease: .*\(checked against the keyring \/usr\/share\/keyrings\/debian-archive-keyring\.gpg\)/, explain(without));
  assert.match(without.stderr, /--keyring FILE/, 'the hint says to give the archive\'s keyring');

  const other = join(dir.path, 'other.gpg');
  await writeFile(other, (await makeKey('another archive')).publicKey.write());
  const wrong = await runKiln([...common, '--keyring', other]);
  assert.equal(wrong.code, 1, explain(wrong));
  assert.match(wrong.stderr, new RegExp(`is signed only by keys not in the keyring .*\\(checked against the keyring ${other}\\)`), explain(wrong));
  assert.match(wrong.stderr, new RegExp(`--keyring ${other} does not hold a key that signed it`), explain(wrong));

  const missing = await runKiln([...common, '--keyring', join(dir.path, 'nope.gpg')]);
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, /error \[usage\]: --keyring \S+nope\.gpg: \S+nope\.gpg does not exist/, explain(missing));
  const notKey = join(dir.path, 'README');
  await writeFile(notKey, 'not a key\n');
  const junk = await runKiln([...common, '--keyring', notKey]);
  assert.equal(junk.code, 2, explain(junk));
  assert.match(junk.stderr, /error \[usage\]: --keyring: \S+README is not an OpenPGP keyring/, explain(junk));

  // debian.toml: keyring relative to the file.
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'keys'), { recursive: true });
  await writeFile(join(tree, 'keys', 'derivative.asc'), key.publicKey.armor());
  const toml = (keyring: string) => writeFile(join(tree, 'debian.toml'), `suite = "testsuite"\nmirror = "${srv.base}"\nsources = ["hello"]\nkeyring = "${keyring}"\n`);
  const fromTree = ['plan', '--tree', tree, '--arch', 'amd64', '--no-install-check', '--state', join(dir.path, 'state'), '--cache', join(dir.path, 'cache')];
  await toml('keys/derivative.asc');
  const planned = await runKiln(fromTree);
  assert.equal(planned.code, 0, explain(planned));
  assert.match(planned.stdout, /hello/, explain(planned));
  await toml('keys/nope.gpg');
  const tomlMissing = await runKiln(fromTree);
  assert.equal(tomlMissing.code, 2, explain(tomlMissing));
  assert.match(tomlMissing.stderr, /error \[config-invalid\]: \S+debian\.toml: keyring: \S+keys\/nope\.gpg does not exist/, explain(tomlMissing));
});

test('--no-check-valid-until / debian.toml check-valid-until = false: a snapshot mirror\'s expired Release is taken (still signed); without, refused with a hint naming the flag', { skip, timeout: 120_000 }, async () => {
  await using dir = await tmpDir('kiln-valid-until-it-');
  await importTestsuiteEnv(dir.path);
  await using srv = await archive({ 'Valid-Until': 'Sat, 17 Feb 2024 10:00:00 UTC' });
  const asc = join(dir.path, 'derivative.asc');
  await writeFile(asc, key.publicKey.armor());
  const common = ['plan', '--debian', 'testsuite', 'hello', '--mirror', srv.base, '--keyring', asc, '--arch', 'amd64', '--no-install-check', '--state', join(dir.path, 'state'), '--cache', join(dir.path, 'cache')];
  const refused = await runKiln(common);
  assert.equal(refused.code, 1, explain(refused));
  assert.match(refused.stderr, /error \[signature-invalid\]: \S+\/dists\/testsuite\/InRelease: expired on 2024-02-17T10:00:00\.000Z \(Valid-Until\)/, explain(refused));
  assert.match(refused.stderr, /hint: .*--no-check-valid-until \(check-valid-until = false in debian\.toml\)/, explain(refused));
  const taken = await runKiln([...common, '--no-check-valid-until']);
  assert.equal(taken.code, 0, explain(taken));
  assert.match(taken.stdout, /hello/, explain(taken));
  // Its signature is still checked: Debian's keyring alone refuses it.
  const unsigned = await runKiln([...common.filter((a) => a !== '--keyring' && a !== asc), '--no-check-valid-until']);
  assert.equal(unsigned.code, 1, explain(unsigned));
  assert.match(unsigned.stderr, /signature-invalid/, explain(unsigned));

  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'keys'), { recursive: true });
  await writeFile(join(tree, 'keys', 'derivative.asc'), key.publicKey.armor());
  const fromTree = ['plan', '--tree', tree, '--arch', 'amd64', '--no-install-check', '--state', join(dir.path, 'state'), '--cache', join(dir.path, 'cache')];
  await writeFile(join(tree, 'debian.toml'), `suite = "testsuite"\nmirror = "${srv.base}"\nsources = ["hello"]\nkeyring = "keys/derivative.asc"\ncheck-valid-until = false\n`);
  const planned = await runKiln(fromTree);
  assert.equal(planned.code, 0, explain(planned));
  assert.match(planned.stdout, /hello/, explain(planned));
  // The flag alone, with the tree's debian.toml (options for it): taken as well.
  await writeFile(join(tree, 'debian.toml'), `suite = "testsuite"\nmirror = "${srv.base}"\nsources = ["hello"]\nkeyring = "keys/derivative.asc"\n`);
  assert.equal((await runKiln(fromTree)).code, 1);
  const flagged = await runKiln([...fromTree, '--no-check-valid-until']);
  assert.equal(flagged.code, 0, explain(flagged));
});
