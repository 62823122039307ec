// For tests: one repository operation in a process of its own, so that a test can kill it
// at a chosen system call (strace's fault injection) and look at what it left.
//   node apt-repo-test-child.ts KEYFILE publish REPO SUITE [--same-version] DEB...
//   node apt-repo-test-child.ts KEYFILE remove REPO SUITE SPEC...
//   node apt-repo-test-child.ts KEYFILE rollback REPO SUITE
// KEYFILE: an armoured secret key (generateSigningKey's secretArmored).

import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { publishRepo } from './apt-repo.ts';
import { removeFromRepo } from './apt-repo-remove.ts';
import { rollbackRepo } from './apt-repo-rollback.ts';

const [keyFile, op, repoDir, suite, ...rest] = process.argv.slice(2);
if (keyFile === undefined || repoDir === undefined || suite === undefined) throw new Error('usage: apt-repo-test-child.ts KEYFILE publish|remove|rollback REPO SUITE ...');
const key = await openpgp.readPrivateKey({ armoredKey: await readFile(keyFile, 'utf8') });
if (op === 'publish') {
  const same = rest.includes('--same-version');
  await publishRepo({ repoDir, suite, debs: rest.filter((a) => a !== '--same-version'), key, replaceSameVersion: same });
} else if (op === 'remove') {
  await removeFromRepo({ repoDir, suite, specs: rest, key });
} else if (op === 'rollback') {
  await rollbackRepo({ repoDir, suite, key });
} else {
  throw new Error(`unknown operation ${op ?? ''}`);
}
