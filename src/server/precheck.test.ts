import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { precheckBuild, type PrecheckInput } from './precheck.ts';
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
  const dirToml = tree('dir-toml', { 'kiln.toml': null });
  const base: PrecheckInput = { stateRoot: state, sandbox: 'auto', treeDir: plain, env: undefined, archs: undefined, debian: false };
  const rows: [Partial<PrecheckInput>, string | undefined][] = [
    [{}, 'sandbox-unavailable'],
    [{ sandbox: 'host' }, undefined],
    [{ debian: true }, undefined],
    [{ treeDir: debianTree }, undefined],
    [{ treeDir: withEnv }, undefined],
    [{ env: 'bookworm-{arch}' }, undefined],
    [{ env: 'trixie-{arch}' }, 'env-not-found'],
    [{ treeDir: withEnv, archs: ['riscv64'] }, hostArch() === 'riscv64' ? undefined : 'env-not-found'],
    [{ env: '../../etc' }, 'env-not-found'],
    [{ treeDir: dirToml }, undefined],
  ];
  for (const [over, want] of rows) {
    const got = await precheckBuild({ ...base, ...over }).then(() => undefined, (e: unknown) => (isKilnError(e) ? e.code : String(e)));
    assert.equal(got, want, JSON.stringify(over));
  }
});
