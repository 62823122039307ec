// The instance layer of an env (issue 3 §1), for real: a local flat apt repository (a
// .deb made by dpkg-deb, indexed by dpkg-scanpackages; no network) declared as the extra
// source of kiln.toml's [instance]. The first build makes the layer over the bookworm base
// (apt update of that source, the package installed) and builds in base + instance: the
// package's program runs and apt sees the source. A refresh with nothing changed keeps the
// layer's content id (everything stays up to date); a new package version in the repository
// makes a new layer whose id differs, and the package built in it rebuilds with reason
// environment-changed. Runs on a hardlinked copy of the shared env, so the shared env's
// instance records stay untouched. Slow: skipped with KILN_SKIP_SLOW=1 or without root.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { SHARED_ENVS, sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, runKiln, type KilnResult } from '../helpers/run-kiln.ts';

const ENV = 'bookworm-amd64';

function sh(cmd: string, args: readonly string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}${r.error?.message ?? ''}`);
  return r.stdout;
}

/** Replace the repository's only package with kiln-hello VERSION and index it. */
async function publish(repo: string, work: string, version: string): Promise<void> {
  for (const f of readdirSync(repo)) await rm(join(repo, f));
  const root = join(work, `pkg-${version}`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), `Package: kiln-hello\nVersion: ${version}\nArchitecture: all\nMaintainer: kiln tests <tests@kiln.invalid>\nDescription: says hello from the instance layer\n`);
  await writeFile(join(root, 'usr/bin/kiln-hello'), `#!/bin/sh\necho "kiln-hello ${version}"\n`);
  await chmod(join(root, 'usr/bin/kiln-hello'), 0o755);
  sh('dpkg-deb', ['--root-owner-group', '--build', root, join(repo, `kiln-hello_${version}_all.deb`)]);
  await writeFile(join(repo, 'Packages'), sh('dpkg-scanpackages', ['--multiversion', '.'], repo));
}

const skip = sharedEnvSkip() ?? (spawnSync('dpkg-scanpackages', ['--version']).status === 0 ? undefined : 'dpkg-scanpackages is not installed (dpkg-dev)');

test('an instance layer with a local apt repository: made on demand, visible in the build, refreshed by env update, or by each build with refresh = "every-run"', { skip: skip ?? false, timeout: 20 * 60_000 }, async () => {
  await sharedEnv(ENV, 'bookworm', 'amd64');
  // A private envs dir on the same file system: the shared env's current version, hardlinked.
  const envs = await mkdtemp(join(dirname(SHARED_ENVS), 'kiln-instance-envs-'));
  await using dir = await tmpDir('kiln-instance-');
  try {
    const meta = JSON.parse(await readFile(join(SHARED_ENVS, ENV, 'env.json'), 'utf8')) as { current: string };
    await mkdir(join(envs, ENV, 'versions'), { recursive: true });
    sh('cp', ['-al', join(SHARED_ENVS, ENV, 'versions', meta.current), join(envs, ENV, 'versions', meta.current)]);
    await rm(join(envs, ENV, 'versions', meta.current, 'instances'), { recursive: true, force: true });
    sh('cp', [join(SHARED_ENVS, ENV, 'env.json'), join(envs, ENV, 'env.json')]);
    const env = { KILN_ENVS: envs };
    const state = join(dir.path, 'state');

    const repo = join(dir.path, 'repo');
    await mkdir(repo);
    await publish(repo, dir.path, '1.0');
    const tree = join(dir.path, 'tree');
    await mkdir(join(tree, 'uses-hello'), { recursive: true });
    await writeFile(
      join(tree, 'kiln.toml'),
      `env = "bookworm-{arch}"\nsandbox = "chroot"\n\n[instance]\nname = "branch-x"\npackages = ["kiln-hello"]\n\n[[instance.sources]]\nuri = "file://${repo}"\nsuite = "./"\ntrusted = true\n`,
    );
    await writeFile(
      join(tree, 'uses-hello', 'recipe.toml'),
      `name = "uses-hello"
version = "1"
summary = "runs a program from the instance layer's repository"
license = "MIT"
[build]
script = '''
mkdir -p "$DESTDIR/usr/share/uses-hello"
kiln-hello > "$DESTDIR/usr/share/uses-hello/out"
dpkg-query -W -f '\${Version}' kiln-hello > "$DESTDIR/usr/share/uses-hello/version"
apt-cache policy kiln-hello > "$DESTDIR/usr/share/uses-hello/policy"
'''
`,
    );

    const build = async (): Promise<KilnResult> => {
      const r = await runKiln(['build', '--tree', tree, '--state', state, '--json'], { env, timeoutMs: 10 * 60_000 });
      assert.equal(r.code, 0, explain(r));
      return r;
    };
    const output = (r: KilnResult, file: string): string => {
      const job = eventsOf(r.events, 'job-finished').find((e) => e.name === 'uses-hello');
      assert.ok(job?.artifact !== undefined, explain(r));
      return sh('tar', ['-xOf', job.artifact, `usr/share/uses-hello/${file}`]);
    };
    const envList = async (): Promise<{ instances: { name: string; id: string; contentHash: string; layerId: string; specHash: string }[] }> => {
      const r = await runKiln(['env', 'list', '--json', '--state', state], { env });
      assert.equal(r.code, 0, explain(r));
      return (JSON.parse(r.stdout) as { name: string; instances: { name: string; id: string; contentHash: string; layerId: string; specHash: string }[] }[]).find((e) => e.name === ENV)!;
    };
    const update = async (): Promise<string> => {
      const r = await runKiln(['env', 'update', ENV, '--instances-only', '--state', state], { env, timeoutMs: 5 * 60_000 });
      assert.equal(r.code, 0, explain(r));
      return r.stdout;
    };
    const plan = async (): Promise<{ state: string; why: { kind: string } | null }> => {
      const r = await runKiln(['plan', '--tree', tree, '--state', state, '--json'], { env });
      assert.equal(r.code, 0, explain(r));
      return (JSON.parse(r.stdout) as { packages: { name: string; state: string; why: { kind: string } | null }[] }).packages.find((p) => p.name === 'uses-hello')!;
    };

    // Before any build the layer does not exist: the plan says so with a pending id.
    assert.equal((await plan()).state, 'to-build');

    // 1. The first build makes the layer and builds in it.
    const first = await build();
    assert.equal(output(first, 'out').trim(), 'kiln-hello 1.0');
    assert.equal(output(first, 'version'), '1.0');
    assert.match(output(first, 'policy'), /file:\/run\/kiln-sources\/0 \.\/ Packages/, 'apt in the build sees the instance source');
    const [inst1] = (await envList()).instances;
    assert.ok(inst1 !== undefined && inst1.name === 'branch-x');
    assert.match(inst1.id, new RegExp(`^${ENV}@${meta.current}\\+branch-x\\.${inst1.contentHash.slice(0, 12)}$`));
    const started = eventsOf(first.events, 'job-finished').find((e) => e.name === 'uses-hello')!;
    assert.equal(started.inputs?.envId, inst1.id, 'the instance id is the env id in the input key');
    // The layer holds only what the instance changed: no base file that apt did not touch.
    const layerRoot = join(envs, ENV, 'versions', meta.current, 'instances', inst1.specHash, 'layers', inst1.layerId, 'root');
    assert.ok(existsSync(join(layerRoot, 'usr/bin/kiln-hello')));
    assert.ok(!existsSync(join(layerRoot, 'bin/sh')) && !existsSync(join(layerRoot, 'usr/bin/gcc')), 'the layer is a diff over the base');
    assert.ok(readFileSync(join(layerRoot, 'etc/apt/sources.list.d/kiln-branch-x.sources'), 'utf8').includes('Trusted: yes'));

    // 2. A refresh that changes nothing keeps the id: nothing rebuilds.
    assert.match(await update(), /instance branch-x \([0-9a-f]{16}\): unchanged/);
    assert.equal((await envList()).instances[0]?.id, inst1.id);
    assert.equal((await plan()).state, 'up-to-date');

    // 3. A new version in the repository: the refresh makes a new layer, the package rebuilds.
    await publish(repo, dir.path, '2.0');
    assert.match(await update(), /instance branch-x \([0-9a-f]{16}\): content [0-9a-f]{12} -> [0-9a-f]{12}/);
    const [inst2] = (await envList()).instances;
    assert.ok(inst2 !== undefined && inst2.id !== inst1.id && inst2.specHash === inst1.specHash);
    const p = await plan();
    assert.equal(p.state, 'to-build');
    assert.equal(p.why?.kind, 'environment-changed');
    const second = await build();
    const why = eventsOf(second.events, 'job-started').find((e) => e.name === 'uses-hello')?.why;
    assert.equal(why?.kind, 'environment-changed');
    assert.equal(output(second, 'out').trim(), 'kiln-hello 2.0');
    // The old layer went once no build held it.
    const layers = readdirSync(join(envs, ENV, 'versions', meta.current, 'instances', inst1.specHash, 'layers'));
    assert.deepEqual(layers, [inst2.layerId]);

    // 4. refresh = "every-run": each build refreshes the layer as it starts (no env update):
    // a new version is built with at once; with nothing new, nothing rebuilds.
    await writeFile(join(tree, 'kiln.toml'), (await readFile(join(tree, 'kiln.toml'), 'utf8')).replace('name = "branch-x"\n', 'name = "branch-x"\nrefresh = "every-run"\n'));
    await publish(repo, dir.path, '3.0');
    const notes = (r: KilnResult): string => eventsOf(r.events, 'note').map((e) => e.text).join('\n');
    const third = await build();
    assert.match(notes(third), /instance "branch-x": refreshed \(refresh = "every-run"\): content [0-9a-f]{12} -> [0-9a-f]{12}/, explain(third));
    assert.equal(eventsOf(third.events, 'job-started').find((e) => e.name === 'uses-hello')?.why.kind, 'environment-changed');
    assert.equal(output(third, 'out').trim(), 'kiln-hello 3.0');
    assert.equal((await envList()).instances[0]?.specHash, inst1.specHash, 'refresh is not part of the instance\'s identity');
    const fourth = await build();
    assert.match(notes(fourth), /instance "branch-x": refreshed \(refresh = "every-run"\): unchanged/, explain(fourth));
    assert.equal(eventsOf(fourth.events, 'job-started').length, 0, 'nothing rebuilds when the repository did not change');
  } finally {
    await rm(envs, { recursive: true, force: true });
  }
});
