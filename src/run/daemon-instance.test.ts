import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refuseFileMirrorsOnDaemon, refuseHostPathsOnDaemon } from './prepare-plan.ts';
import { isKilnError } from '../errors.ts';
import type { InstanceSpec } from '../envs/instance-spec.ts';

test("on a daemon, a tree's [instance] may not reach the daemon's files: a keyring outside the tree, a link out of it, a file:// source", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-daemon-instance-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'keys'), { recursive: true });
  writeFileSync(join(tree, 'keys', 'repo.asc'), 'key');
  writeFileSync(join(dir, 'secret'), 'not the tenant\'s');
  symlinkSync(join(dir, 'secret'), join(tree, 'keys', 'escape.asc'));
  const spec = (source: Partial<InstanceSpec['sources'][number]>): InstanceSpec =>
    ({ name: 'x', packages: [], debianLists: false, sources: [{ uri: 'https://repo.example/debian', suite: 'stable', components: ['main'], trusted: false, ...source }] }) as InstanceSpec;
  refuseHostPathsOnDaemon(spec({ signedBy: join(tree, 'keys', 'repo.asc') }), tree, 'kiln.toml');
  refuseHostPathsOnDaemon(spec({ trusted: true }), tree, 'kiln.toml');
  const refused: [Partial<InstanceSpec['sources'][number]>, RegExp][] = [
    [{ signedBy: '/root/.netrc' }, /signed-by: on a daemon the keyring must be a file of the tree/],
    [{ signedBy: join(tree, '..', 'secret') }, /signed-by/],
    [{ signedBy: join(tree, 'keys', 'escape.asc') }, /signed-by/],
    [{ uri: 'file:///srv/repo', trusted: true }, /uri: a file:\/\/ source is a directory of the daemon's machine/],
  ];
  for (const [source, want] of refused) {
    assert.throws(() => refuseHostPathsOnDaemon(spec(source), tree, 'kiln.toml'), (e: unknown) => isKilnError(e) && e.code === 'config-invalid' && want.test(e.message), JSON.stringify(source));
  }
});

test("on a daemon, a tree's [mirrors] may not name the daemon's folders (file://); http(s) ones are taken", () => {
  refuseFileMirrorsOnDaemon({ debian: 'http://mirror.example/debian', gnu: 'https://ftp.example/gnu' }, 'kiln.toml');
  assert.throws(() => refuseFileMirrorsOnDaemon({ gnu: 'https://ftp.example/gnu', etc: 'file:///etc' }, '/t/kiln.toml'), (e: unknown) =>
    isKilnError(e) && e.code === 'config-invalid' && /^\/t\/kiln\.toml: mirrors\.etc: a file:\/\/ mirror is a directory of the daemon's machine/.test(e.message));
});
