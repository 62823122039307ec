// A recipe built in an env says in its log which packages the env held (name version arch,
// as a Debian build lists its build root): after `kiln env update` removes that env
// version, the log still says which toolchain built the artifact. The chroot sandbox of the
// shared bookworm env, and the rootless one as root; a host build (no env) lists nothing.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { rootlessUnavailable } from '../../src/sandbox/rootless/probe.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';

async function tree(dir: string, config: string): Promise<string> {
  const at = join(dir, 'tree');
  for (const name of ['one', 'two']) {
    await mkdir(join(at, name), { recursive: true });
    await writeFile(join(at, name, 'recipe.toml'), `name = "${name}"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "true"\n`);
  }
  await writeFile(join(at, 'kiln.toml'), config);
  return at;
}

for (const sandbox of ['chroot', 'rootless'] as const) {
  const skip = sharedEnvSkip() ?? (sandbox === 'rootless' ? rootlessUnavailable() : undefined);
  test(`a recipe build in an env (${sandbox} sandbox) lists the env's package versions in its log`, { skip, timeout: 5 * 60_000 }, async () => {
    await using dir = await tmpDir();
    const at = await tree(dir.path, `env = "bookworm-{arch}"\nsandbox = "${sandbox}"\n`);
    const r = await runKiln(['build', '--tree', at, '--state', join(dir.path, 'state'), '--json'], { env: await sharedEnv(), timeoutMs: 4 * 60_000 });
    assert.equal(r.code, 0, explain(r));
    for (const name of ['one', 'two']) {
      const log = jobLogOf(r, name);
      assert.match(log, /k built in env bookworm-amd64@\S+, /);
      const at = log.indexOf('k package versions in the build root:');
      assert.ok(at > 0, log);
      const after = log.slice(at);
      assert.match(after, /^\[ *[\d.]+\] k libc6 2\.36-\S+ amd64$/m);
      assert.match(after, /^\[ *[\d.]+\] k base-files 12\S* amd64$/m);
      assert.match(after, /^\[ *[\d.]+\] k tzdata \S+ all$/m);
      // Before the build runs.
      assert.ok(at < log.indexOf('==> phase build'), log);
    }
  });
}

test('a recipe build on the host sandbox (no env) lists no package versions', { timeout: 60_000 }, async () => {
  await using dir = await tmpDir();
  const at = await tree(dir.path, 'sandbox = "host"\n');
  const r = await runKiln(['build', '--tree', at, '--state', join(dir.path, 'state'), '--json']);
  assert.equal(r.code, 0, explain(r));
  const log = jobLogOf(r, 'one');
  assert.match(log, /on the host's own system \(no env\)/);
  assert.doesNotMatch(log, /package versions/);
});
