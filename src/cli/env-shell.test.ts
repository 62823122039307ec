// `kiln env shell` end to end through the real CLI, non-interactively (commands on stdin,
// as a terminal user would type them): a small test root imported as an env, a shell in
// each sandbox backend that works here, its exit status and output, and nothing left after.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createEnvStore } from '../envs/env-store.ts';
import { chrootUnavailable } from '../sandbox/chroot/chroot-backend.ts';
import { rootlessUnavailable } from '../sandbox/rootless/rootless-backend.ts';
import { KILN_BIN, NODE_BIN, REPO_ROOT } from '../../test/helpers/run-kiln.ts';
import { testRoot } from '../../test/helpers/test-root.ts';

const base = mkdtempSync(join(tmpdir(), 'kiln-env-shell-'));
process.on('exit', () => rmSync(base, { recursive: true, force: true }));
const state = join(base, 'state');

function kiln(args: readonly string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(NODE_BIN, [KILN_BIN, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

let imported: Promise<string | undefined> | undefined;

/** The test root as a tarball with an os-release, imported as env `tr`; a reason when it cannot be. */
function importRoot(): Promise<string | undefined> {
  imported ??= (async () => {
    const tree = join(base, 'tree');
    cpSync(testRoot().path, tree, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(tree, 'etc/os-release'), 'PRETTY_NAME="kiln shell test root"\nID=kilntest\n');
    execFileSync('tar', ['-C', tree, '-cf', join(base, 'root.tar'), '.']);
    try {
      await createEnvStore({ stateDir: state }).importTarball('tr', join(base, 'root.tar'), { suite: 'bookworm', arch: 'amd64' });
      return undefined;
    } catch (e) {
      return `cannot import the test root as an env here: ${(e as Error).message}`;
    }
  })();
  return imported;
}

const backends = [
  { name: 'chroot', why: chrootUnavailable() },
  { name: 'rootless', why: rootlessUnavailable() },
] as const;

describe('kiln env shell', () => {
  for (const b of backends) {
    test(`${b.name}: commands from stdin run inside the env; the exit status is kiln's; nothing is left`, async (t) => {
      if (b.why !== undefined) return t.skip(`${b.name} sandbox unavailable: ${b.why}`);
      const why = await importRoot();
      if (why !== undefined) return t.skip(why);
      const r = await kiln(['env', 'shell', 'tr', '--state', state, '--sandbox', b.name], 'cat /etc/os-release; id -un; pwd; grep CapEff /proc/self/status; exit 3\n');
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, 'PRETTY_NAME="kiln shell test root"\nID=kilntest\nkiln\n/kiln/src\nCapEff:\t0000000000000000\n');
      assert.match(r.stderr, new RegExp(`shell in tr@\\S+ \\(${b.name} sandbox`));
      assert.deepEqual(await readdir(join(state, 'work')), []);
      assert.deepEqual((await createEnvStore({ stateDir: state }).get('tr')).leases, []);
    });

    test(`${b.name}: -c runs a script; death by signal N is exit status 128+N`, async (t) => {
      if (b.why !== undefined) return t.skip(`${b.name} sandbox unavailable: ${b.why}`);
      const why = await importRoot();
      if (why !== undefined) return t.skip(why);
      const r = await kiln(['env', 'shell', 'tr', '--state', state, '--sandbox', b.name, '-c', 'echo before; kill -TERM $$; echo after'], '');
      assert.equal(r.stdout, 'before\n');
      assert.equal(r.code, 143, r.stderr);
    });
  }

  test('an unknown env is refused with its name, and no workspace is made', async () => {
    const r = await kiln(['env', 'shell', 'no-such-env', '--state', state, '--sandbox', 'rootless'], '');
    assert.notEqual(r.code, 0);
    const why = rootlessUnavailable();
    assert.match(r.stderr, why === undefined ? /no environment named "no-such-env"/ : /rootless sandbox/);
    assert.deepEqual(await readdir(join(state, 'work')).catch(() => []), []);
  });
});
