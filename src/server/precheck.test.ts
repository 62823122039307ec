import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { precheckBuild, unmatchedTarget, type PrecheckInput } from './precheck.ts';
import { isKilnError } from '../errors.ts';
import { hostArch } from '../run/host-env.ts';

test('precheckBuild: refuses only what would surely fail; Debian requests and trees, host mode and unreadable kiln.toml pass', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-precheck-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const state = join(root, 'state');
  mkdirSync(join(state, 'envs', `bookworm-${hostArch()}`), { recursive: true });
  writeFileSync(join(state, 'envs', `bookworm-${hostArch()}`, 'env.json'), '{}');
  const tree = (name: string, files: Record<string, string | null>): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) {
      if (text === null) mkdirSync(join(dir, f));
      else writeFileSync(join(dir, f), text);
    }
    return dir;
  };
  const plain = tree('plain', {});
  const withEnv = tree('with-env', { 'kiln.toml': 'env = "bookworm-{arch}"\n' });
  const debianTree = tree('debian', { 'debian.toml': 'suite = "bookworm"\nsources = ["hello"]\n' });
  const crossTree = tree('debian-cross', { 'debian.toml': 'suite = "bookworm"\nsources = ["hello"]\ncross = true\n' });
  const dirToml = tree('dir-toml', { 'kiln.toml': null });
  const pkgs = tree('pkgs', { zlib: null, 'zlib/recipe.toml': '', libpng: null, 'libpng/recipe.toml': '', notes: null });
  const flavoured = tree('flavoured', { app: null, 'app/recipe.toml': 'name = "app"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[options]\nssl = true\n[flavours.nossl]\noptions = { ssl = false }\n[build]\nscript = "true"\n' });
  const base: PrecheckInput = { stateRoot: state, sandbox: 'auto', treeDir: plain, env: undefined, archs: undefined, debian: false };
  const rows: [Partial<PrecheckInput>, string | undefined][] = [
    [{}, 'env-required'],
    [{ sandbox: 'host' }, undefined],
    [{ debian: true }, undefined],
    [{ treeDir: debianTree }, undefined],
    [{ treeDir: withEnv }, undefined],
    [{ env: 'bookworm-{arch}' }, undefined],
    [{ env: 'trixie-{arch}' }, 'env-not-found'],
    [{ treeDir: withEnv, archs: ['riscv64'] }, hostArch() === 'riscv64' ? undefined : 'env-not-found'],
    [{ env: '../../etc' }, 'env-not-found'],
    [{ treeDir: dirToml }, undefined],
    // Targets are checked against the package folders (those holding recipe.toml), host mode too.
    [{ treeDir: pkgs, sandbox: 'host', targets: ['zlib', 'lib*'] }, undefined],
    [{ treeDir: pkgs, sandbox: 'host', targets: ['zlbi'] }, 'target-not-found'],
    [{ treeDir: pkgs, sandbox: 'host', targets: ['xyz*'] }, 'target-not-found'],
    [{ treeDir: pkgs, sandbox: 'host', targets: ['notes'] }, 'target-not-found'],
    [{ treeDir: pkgs, targets: ['zlbi'] }, 'target-not-found'],
    [{ treeDir: pkgs, env: 'bookworm-{arch}', targets: ['libpng'] }, undefined],
    // A flavour's package has no folder: the recipes name it.
    [{ treeDir: flavoured, sandbox: 'host', targets: ['app-nossl'] }, undefined],
    [{ treeDir: flavoured, sandbox: 'host', targets: ['app-nosl'] }, 'target-not-found'],
    // A Debian request's targets may be source packages; an empty tree is the build's to report.
    [{ treeDir: pkgs, sandbox: 'host', debian: true, targets: ['hello'] }, undefined],
    [{ treeDir: debianTree, sandbox: 'host', targets: ['hello'] }, undefined],
    [{ treeDir: plain, sandbox: 'host', targets: ['hello'] }, undefined],
    // Cross-building on a daemon whose workers build the jobs (--nats): refused, whoever asked for it.
    [{ treeDir: debianTree, debian: true, cross: true, nats: true }, 'usage'],
    [{ treeDir: crossTree, nats: true }, 'usage'],
    [{ treeDir: crossTree, debian: true, nats: true }, 'usage'],
    [{ treeDir: crossTree }, undefined],
    [{ treeDir: debianTree, debian: true, cross: true }, undefined],
    [{ treeDir: debianTree, nats: true }, undefined],
  ];
  for (const [over, want] of rows) {
    const got = await precheckBuild({ ...base, ...over }).then(() => undefined, (e: unknown) => (isKilnError(e) ? e.code : String(e)));
    assert.equal(got, want, JSON.stringify(over));
  }
});

test('unmatchedTarget: the first target no package matches, with the closest name when it is a typo', () => {
  // pngcrush in a category folder: a target with a slash names category/name.
  const packages = [{ name: 'zlib' }, { name: 'libpng' }, { name: 'libjpeg-turbo' }, { name: 'pngcrush', category: 'graphics' }];
  const rows: [string[], ReturnType<typeof unmatchedTarget>][] = [
    [[], undefined],
    [['zlib', 'lib*', 'png?rush', '[lz]*'], undefined],
    [['graphics/*', 'graphics/pngcrush', '*/png*'], undefined],
    [['graphics/zlib'], { target: 'graphics/zlib', near: undefined }],
    [['*/zlib'], { target: '*/zlib', near: undefined }],
    [['zlib', 'zlibb'], { target: 'zlibb', near: 'zlib' }],
    [['libjpeg-trubo'], { target: 'libjpeg-trubo', near: 'libjpeg-turbo' }],
    [['gcc'], { target: 'gcc', near: undefined }],
    [['xyz*'], { target: 'xyz*', near: undefined }],
    [['LIBPNG'], { target: 'LIBPNG', near: 'libpng' }],
  ];
  for (const [targets, want] of rows) assert.deepEqual(unmatchedTarget(targets, packages), want, JSON.stringify(targets));
});

test('precheckBuild: a tree whose kiln.toml has [hooks] is refused (config-invalid naming [hooks]), in every mode, Debian trees too', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-precheck-hooks-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const make = (name: string, toml: string, extra: Record<string, string> = {}): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kiln.toml'), toml);
    for (const [f, text] of Object.entries(extra)) writeFileSync(join(dir, f), text);
    return dir;
  };
  const base: PrecheckInput = { stateRoot: join(root, 'state'), sandbox: 'host', treeDir: '', env: undefined, archs: undefined, debian: false };
  const rows: [string, Partial<PrecheckInput>, boolean][] = [
    ['run-finished hooks, host mode', { treeDir: make('a', '[hooks]\nrun-finished = ["touch /tmp/x"]\n') }, true],
    ['an empty [hooks], auto', { treeDir: make('b', '[hooks]\n'), sandbox: 'auto' }, true],
    ['a Debian request', { treeDir: make('c', '[hooks]\njob-failed = ["x"]\n'), debian: true }, true],
    ['a Debian tree', { treeDir: make('d', '[hooks]\njob-failed = ["x"]\n', { 'debian.toml': 'suite = "bookworm"\n' }) }, true],
    ['no [hooks]', { treeDir: make('e', 'archs = ["amd64"]\n') }, false],
    ['kiln.toml that is not TOML: left to the build', { treeDir: make('f', '[hooks\n') }, false],
  ];
  for (const [name, over, refused] of rows) {
    const got = await precheckBuild({ ...base, ...over }).then(() => undefined, (e: unknown) => e);
    if (!refused) {
      assert.equal(got, undefined, name);
      continue;
    }
    assert.ok(isKilnError(got) && got.code === 'config-invalid', name);
    assert.match(got.message, /^kiln\.toml: \[hooks\]: a daemon runs no hooks/, name);
    assert.match(got.hint ?? '', /--webhook/, name);
  }
  // The file's other problems come with it: all fixed in one go.
  const more = await precheckBuild({ ...base, treeDir: make('g', 'archs = ["x86_64"]\n[hooks]\nrun-finished = ["x"]\n[defaults]\nmemry = "1G"\n') }).then(() => undefined, (e: unknown) => e);
  assert.ok(isKilnError(more));
  assert.deepEqual(more.message.split('\n').slice(1), [
    '  kiln.toml: archs[0]: "x86_64" is not a Debian architecture name (did you mean "amd64"?): use names of dpkg-architecture -L such as amd64, arm64, riscv64',
    '  kiln.toml: defaults: unknown key "memry" (did you mean "memory"?)',
  ]);
});
