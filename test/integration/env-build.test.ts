// End to end, as root: `kiln env create` a bookworm amd64 env with mmdebstrap from the
// host's mirror, build the bundled examples/ tree inside it (chroot sandbox: overlay,
// namespaces, cgroups, no network), then SIGKILL kiln in the middle of two chroot builds
// and check that a new kiln leaves nothing behind and builds the interrupted jobs.
// Slow (~1 min): skipped with KILN_SKIP_SLOW=1, when not root, or without mmdebstrap.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventually } from '../helpers/proc.ts';
import { REPO_ROOT, runKiln, spawnKiln, readReport, statesOf } from '../helpers/run-kiln.ts';

const skip =
  process.env['KILN_SKIP_SLOW'] === '1'
    ? 'KILN_SKIP_SLOW=1'
    : process.getuid?.() !== 0
      ? 'needs root (chroot sandbox, mmdebstrap)'
      : !existsSync('/usr/bin/mmdebstrap')
        ? 'mmdebstrap is not installed (scripts/setup.sh installs it)'
        : undefined;

function kilnMounts(under: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(under));
}

/** kiln's cgroups made by one kiln process (their names end in `.<kilnPid>.<random>`). */
function kilnCgroups(kilnPid: number): string[] {
  const out: string[] = [];
  for (const ctrl of ['memory', 'pids', 'cpu', '']) {
    const dir = join('/sys/fs/cgroup', ctrl, 'kiln');
    if (!existsSync(dir)) continue;
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) {
          if (e.name.includes(`.${kilnPid}.`)) out.push(join(d, e.name));
          walk(join(d, e.name));
        }
      }
    };
    walk(dir);
  }
  return out;
}

test('a bookworm env made by kiln env create builds the examples tree in the chroot sandbox; SIGKILL mid-build leaves nothing behind', { skip, timeout: 15 * 60_000 }, async (t) => {
  const mirror = await hostDebianMirror({});
  if (mirror === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  await using dir = await tmpDir('kiln-envbuild-');
  const state = join(dir.path, 'state');

  const created = await runKiln(['env', 'create', 'bookworm-amd64', '--suite', 'bookworm', '--arch', 'amd64', '--state', state], { timeoutMs: 10 * 60_000 });
  assert.equal(created.code, 0, created.stderr + created.stdout);

  // The example tree, inside the env: real zlib, libpng, pngcrush.
  const first = await runKiln(['build', '--tree', join(REPO_ROOT, 'examples'), '--env', 'bookworm-{arch}', '--sandbox', 'chroot', '--json', '--state', state], {
    timeoutMs: 10 * 60_000,
  });
  assert.equal(first.code, 0, first.stderr + first.stdout.slice(-3000));
  assert.deepEqual(statesOf(await readReport(first)), { libpng: 'built', pngcrush: 'built', zlib: 'built' });
  assert.match(first.stdout, /"type":"note"[^\n]*"text":"builds run in the chroot sandbox, in env bookworm-amd64@/, 'the run says where its builds run');
  const again = await runKiln(['build', '--tree', join(REPO_ROOT, 'examples'), '--env', 'bookworm-{arch}', '--json', '--state', state]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(statesOf(await readReport(again)), { libpng: 'up-to-date', pngcrush: 'up-to-date', zlib: 'up-to-date' });
  assert.doesNotMatch(again.stdout, /builds run in the/, 'nothing to build: not said');
  // The env id is part of the key: building on the host is a different environment.
  const plan = await runKiln(['plan', '--tree', join(REPO_ROOT, 'examples'), '--sandbox', 'host', '--json', '--state', state]);
  const planned = JSON.parse(plan.stdout) as { packages: { name: string; state: string; why: { kind: string } | null }[] };
  assert.ok(planned.packages.every((p) => p.state === 'to-build' && p.why?.kind === 'environment-changed'), plan.stdout);

  // Two slow builds in chroot sandboxes; SIGKILL kiln while both run.
  const tree = join(dir.path, 'slow');
  const writeRecipes = async (seconds: number): Promise<void> => {
    for (const name of ['slow-a', 'slow-b']) {
      await mkdir(join(tree, name), { recursive: true });
      const script = [`setsid sleep 300.${TAG} &`, `sleep ${seconds}.${TAG}`, `mkdir -p "$DESTDIR/usr/share" && echo ok > "$DESTDIR/usr/share/${name}"`].join('\n');
      await writeFile(
        join(tree, name, 'recipe.toml'),
        `name = "${name}"\nversion = "1"\nsummary = "sleeps"\nlicense = "MIT"\n[build]\nscript = '''\n${script}\n'''\n`,
      );
    }
  };
  await writeRecipes(300);
  await writeFile(join(tree, 'kiln.toml'), 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
  const k = spawnKiln(['build', '--tree', tree, '--json', '--jobs', '2', '--state', state]);
  await k.waitForEvent((e) => e.type === 'job-phase' && e.phase === 'build' && e.jobId.startsWith('slow-b'), 60_000);
  await k.waitForEvent((e) => e.type === 'job-phase' && e.phase === 'build' && e.jobId.startsWith('slow-a'), 60_000);
  process.kill(k.pid, 'SIGKILL');
  await k.done;
  // The builds die with kiln (parent-death signal, pid namespace): no sleeper survives.
  assert.ok(await eventually(() => !readdirSync('/proc').some((p) => /^\d+$/.test(p) && ownSleeper(procCmdline(p))), 10_000), 'no build process outlives kiln');
  assert.deepEqual(kilnMounts(state), [], 'no mount under the state dir');

  // A new kiln reaps what is left and builds the interrupted jobs.
  await writeRecipes(0);
  const after = await runKiln(['build', '--tree', tree, '--json', '--state', state], { timeoutMs: 5 * 60_000 });
  assert.equal(after.code, 0, after.stderr + after.stdout.slice(-2000));
  assert.deepEqual(statesOf(await readReport(after)), { 'slow-a': 'built', 'slow-b': 'built' });
  assert.deepEqual(kilnMounts(state), []);
  assert.deepEqual(kilnCgroups(k.pid), [], "no cgroup of the killed kiln's builds is left");
  assert.deepEqual(existsSync(join(state, 'work')) ? readdirSync(join(state, 'work')) : [], [], 'no workspace left');
  const doctor = await runKiln(['doctor', '--state', state]);
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
});

// The sleepers of this test's builds, told apart from other test files' (which run at the
// same time, some with a `sleep 300` of their own) by a fraction of a second unique to it.
const TAG = String(process.pid).padStart(7, '0');
const ownSleeper = (cmdline: string): boolean => cmdline.startsWith('sleep ') && cmdline.includes(`.${TAG}`);

function procCmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}
