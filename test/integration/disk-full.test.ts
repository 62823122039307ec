// A build that fills its build disk (the state dir's work/ on a 64 MiB tmpfs, the build
// writing 100 MiB): that package fails with reason `disk-full` (reliability case 9: the
// machine's problem, not the package's; the log holding "No space left on device"), not
// as a sandbox that could not start, the other
// package still builds, and kiln itself ends cleanly. On the host sandbox always, in the
// chroot sandbox of the shared bookworm env when slow tests may run. Needs root (mount).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, pkgOf, readReport, runKiln } from '../helpers/run-kiln.ts';

const recipe = (name: string, script: string): string => `name = "${name}"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = '''\n${script}\n'''\n`;

for (const sandbox of ['host', 'chroot'] as const) {
  const skip = process.getuid?.() !== 0 ? 'needs root (mounts a tmpfs)' : sandbox === 'chroot' ? sharedEnvSkip() : undefined;
  test(`a build that fills its build disk fails with reason disk-full, on the ${sandbox} sandbox; the rest builds`, { skip, timeout: 5 * 60_000 }, async () => {
    await using dir = await tmpDir();
    const tree = join(dir.path, 'tree');
    for (const [name, script] of [['big', 'dd if=/dev/zero of="$SRCDIR/fill" bs=1M count=100'], ['ok', 'mkdir -p "$DESTDIR/usr/share/ok" && echo ok > "$DESTDIR/usr/share/ok/ok"']] as const) {
      await mkdir(join(tree, name), { recursive: true });
      await writeFile(join(tree, name, 'recipe.toml'), recipe(name, script));
    }
    const env = sandbox === 'chroot' ? await sharedEnv() : {};
    if (sandbox === 'chroot') await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
    const state = join(dir.path, 'state');
    const work = join(state, 'work');
    await mkdir(work, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'kiln-test-full', work]);
    try {
      const r = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '1', '--json', '--min-free', '0', ...(sandbox === 'host' ? ['--sandbox', 'host'] : [])], { env, timeoutMs: 4 * 60_000 });
      assert.equal(r.code, 1, explain(r));
      const report = await readReport(r);
      const big = pkgOf(report, 'big');
      assert.equal(big.state, 'failed', explain(r));
      // The machine's problem, not the package's: said as such, with what was left.
      assert.match(big.cause ?? '', /^the build script exited with status 1 with the disk of its workspace full \([\d.]+ (B|KiB) free of 64\.0 MiB\): free space there/, explain(r));
      const finished = r.events.find((e) => e.type === 'job-finished' && e.jobId.startsWith('big@'));
      assert.equal((finished as { failure?: { reason: string } } | undefined)?.failure?.reason, 'disk-full', explain(r));
      const log = await readFile(big.log!, 'utf8');
      assert.match(log, /No space left on device/);
      // The log names the build root it ran in.
      assert.match(log, sandbox === 'chroot' ? /built in env bookworm-amd64@\S+, chroot sandbox/ : /built in the host sandbox, on the host's own system \(no env\)/);
      assert.equal(pkgOf(report, 'ok').state, 'built', explain(r));
    } finally {
      execFileSync('umount', ['-l', work]);
    }
  });
}
