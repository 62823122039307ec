// `kiln env` end to end with the real mmdebstrap and the host's Debian mirror: create a
// bookworm amd64 env, list it, update it while a build holds a lease on the first version,
// see that version stay until the lease is released, and destroy the env. Slow (~30-60 s):
// runs in CI as root, skipped with KILN_SKIP_SLOW=1 or where mmdebstrap/root/a mirror lack.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { createEnvStore } from '../../src/envs/env-store.ts';
import type { EnvInfo } from '../../src/envs/env-types.ts';
import { NODE_BIN, REPO_ROOT } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

// Until main.ts registers `env`, run the verb through buildProgram + registerEnv with the
// same error reporting as main(); once it does, this is plain `kiln env …` through main().
const HARNESS = `
const { buildProgram, main } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/cli/main.ts')).href)});
const { registerEnv } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/cli/env.ts')).href)});
const { isKilnError, exitCodeFor } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/errors.ts')).href)});
const argv = process.argv.slice(1);
const ctx = { exitCode: 0, stdout: process.stdout, stderr: process.stderr };
const program = await buildProgram(ctx);
if (program.commands.some((c) => c.name() === 'env')) {
  process.exitCode = await main(argv);
} else {
  registerEnv(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    process.exitCode = ctx.exitCode;
  } catch (e) {
    if (!isKilnError(e)) throw e;
    process.stderr.write('kiln: error [' + e.code + ']: ' + e.message + '\\n' + (e.hint ? '  hint: ' + e.hint + '\\n' : ''));
    process.exitCode = exitCodeFor(e);
  }
}
`;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function kilnEnv(args: readonly string[], timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(NODE_BIN, ['--input-type=module', '-e', HARNESS, '--', 'env', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const explain = (r: CliResult): string => `exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-3000)}\n--- stdout ---\n${r.stdout.slice(-3000)}`;

async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));
}

const mirror = await hostDebianMirror();
const skip =
  process.env['KILN_SKIP_SLOW'] === '1' ? 'KILN_SKIP_SLOW=1'
  : process.getuid?.() !== 0 ? 'needs root'
  : spawnSync('mmdebstrap', ['--version']).status !== 0 ? 'needs mmdebstrap'
  : mirror === undefined ? 'no Debian mirror in the apt sources'
  : false;

test('env create, list, update under a lease, destroy: bookworm amd64 with the real mmdebstrap', { skip, timeout: 600_000 }, async () => {
  await using dir = await tmpDir('kiln-envs-e2e-');
  const state = join(dir.path, 'state');

  const created = await kilnEnv(['create', 'bookworm-amd64', '--suite', 'bookworm', '--arch', 'amd64', '--state', state]);
  assert.equal(created.code, 0, explain(created));
  assert.match(created.stdout, /mmdebstrap\| I: success/);
  assert.match(created.stdout, /kiln: created bookworm-amd64: bookworm amd64, version \d{8}T\d{6}-[0-9a-f]{8}/);

  const again = await kilnEnv(['create', 'bookworm-amd64', '--suite', 'bookworm', '--arch', 'amd64', '--state', state]);
  assert.equal(again.code, 2, explain(again));
  assert.match(again.stderr, /already exists/);

  const listed = await kilnEnv(['list', '--json', '--state', state]);
  assert.equal(listed.code, 0, explain(listed));
  const [v1, ...others] = JSON.parse(listed.stdout) as EnvInfo[];
  assert.ok(v1 !== undefined && others.length === 0, listed.stdout);
  assert.equal(v1.suite, 'bookworm');
  assert.equal(v1.arch, 'amd64');
  assert.equal(v1.mirror, mirror);
  assert.ok(v1.sizeBytes > 100 * 2 ** 20, `size ${v1.sizeBytes}`);
  // A buildd root: build-essential is installed, and dpkg agrees on the arch.
  const q = spawnSync('chroot', [v1.root, 'dpkg-query', '-W', '-f', '${Status}', 'build-essential'], { encoding: 'utf8' });
  assert.equal(q.stdout, 'install ok installed', q.stderr);
  assert.equal(spawnSync('chroot', [v1.root, 'dpkg', '--print-architecture'], { encoding: 'utf8' }).stdout.trim(), 'amd64');
  const table = await kilnEnv(['list', '--state', state]);
  assert.match(table.stdout, new RegExp(`^bookworm-amd64\\s+bookworm\\s+amd64\\s+${v1.versionId}\\s+\\d+\\.\\d MiB`, 'm'));

  // An update that upgrades nothing keeps the version: nothing built in it is built again.
  const store = createEnvStore({ stateDir: state });
  const nothing = await kilnEnv(['update', 'bookworm-amd64', '--state', state]);
  assert.equal(nothing.code, 0, explain(nothing));
  assert.match(nothing.stdout, new RegExp(`kiln: bookworm-amd64 is up to date: apt upgraded no package, so ${v1.versionId} stays its version`));
  assert.equal((await store.get('bookworm-amd64')).id, v1.id);
  assert.deepEqual(await readdir(join(state, 'envs/bookworm-amd64/tmp')), []);
  // An older version of one package in the root (as the archive moving on leaves it): the
  // next update upgrades it, and that makes a new version.
  const status = join(v1.root, 'var/lib/dpkg/status');
  await writeFile(status, (await readFile(status, 'utf8')).replace(/^(Package: hostname\n(?:.+\n)*?Version: ).+$/m, '$10.1'));

  // A build in progress holds the first version.
  const lease = await store.acquire('bookworm-amd64');
  assert.equal(lease.env.id, v1.id);

  const updated = await kilnEnv(['update', 'bookworm-amd64', '--state', state]);
  assert.equal(updated.code, 0, explain(updated));
  assert.match(updated.stdout, /apt\| Reading package lists/);
  assert.match(updated.stdout, new RegExp(`kept ${v1.versionId} for running builds`));
  const v2 = await store.get('bookworm-amd64');
  assert.notEqual(v2.versionId, v1.versionId);
  assert.notEqual(v2.id, v1.id, 'a new env id: dependent packages rebuild with reason environment-changed');
  assert.deepEqual(v2.versions, [v1.versionId, v2.versionId]);
  assert.ok(existsSync(join(v1.root, 'usr/bin/gcc')), 'the leased version is still whole');
  assert.deepEqual(await mountsUnder(dir.path), [], 'env update left no mount behind');
  assert.deepEqual(await readdir(join(state, 'envs/bookworm-amd64/tmp')), []);

  const refused = await kilnEnv(['destroy', 'bookworm-amd64', '--state', state]);
  assert.equal(refused.code, 1, explain(refused));
  assert.match(refused.stderr, new RegExp(`in use by running builds \\(pids ${process.pid}\\)`));

  await lease.release();
  assert.equal(existsSync(join(state, 'envs/bookworm-amd64/versions', v1.versionId)), false, 'released version removed');
  assert.deepEqual((await store.get('bookworm-amd64')).versions, [v2.versionId]);

  const destroyed = await kilnEnv(['destroy', 'bookworm-amd64', '--state', state]);
  assert.equal(destroyed.code, 0, explain(destroyed));
  assert.equal(existsSync(join(state, 'envs/bookworm-amd64')), false);
  const empty = await kilnEnv(['list', '--json', '--state', state]);
  assert.deepEqual(JSON.parse(empty.stdout), []);
});

test('env create: an arch the suite does not have is refused before mmdebstrap runs, naming the suite\'s archs', { skip }, async () => {
  await using dir = await tmpDir('kiln-envs-arch-');
  const state = join(dir.path, 'state');
  const r = await kilnEnv(['create', 'bookworm-riscv64', '--suite', 'bookworm', '--arch', 'riscv64', '--state', state], 60_000);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /\[usage\]: --arch: bookworm has no riscv64: it has amd64 arm64 .*\n  hint: riscv64 is a Debian release arch from trixie on: --suite trixie/, explain(r));
  assert.doesNotMatch(r.stderr + r.stdout, /mmdebstrap/);
  assert.equal(existsSync(join(state, 'envs', 'bookworm-riscv64')), false);
});
