import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emulatedBy, hostNote } from './run-envs.ts';

test('hostNote: says when a host run ignores an env or builds for another architecture, and nothing otherwise', () => {
  const base = { sandbox: 'auto' as const, envTemplate: undefined, archs: ['amd64'], hostArch: 'amd64' };
  assert.equal(hostNote(base), undefined);
  assert.equal(hostNote({ ...base, archs: ['amd64', 'all'] }), undefined, '"all" builds on the host arch');
  assert.match(hostNote({ ...base, archs: ['amd64', 'riscv64'] })!, /^building for riscv64 on the host \(amd64\) without an env: each recipe must cross-compile for \$KILN_ARCH itself/);
  assert.equal(hostNote({ ...base, sandbox: 'host', envTemplate: 'bookworm-{arch}' }), 'sandbox host (--sandbox, or sandbox = "host" in kiln.toml): builds run on this machine, not in the env "bookworm-{arch}"');
  assert.equal(hostNote({ ...base, sandbox: 'host', envTemplate: 'e', archs: ['arm64'] })!.split('\n').length, 2);
});

test('allArchOf: arch-independent packages build on the run\'s first arch, else the host\'s', async () => {
  const { allArchOf } = await import('./host-env.ts');
  assert.equal(allArchOf(['amd64', 'riscv64'], 'amd64'), 'amd64');
  assert.equal(allArchOf(['riscv64'], 'amd64'), 'riscv64', 'a riscv64-only run: in its env (there is no amd64 env in the run)');
  assert.equal(allArchOf(['all', 'arm64'], 'amd64'), 'arm64');
  assert.equal(allArchOf([], 'amd64'), 'amd64');
});

test('emulatedBy: a foreign arch this machine does not run, in an env or as a Debian package', () => {
  const rows: Array<[backend: string, debian: string[], arch: string, emulated: boolean]> = [
    ['chroot', [], 'riscv64', true],
    ['rootless', [], 'arm64', true],
    ['chroot', [], 'amd64', false],
    ['chroot', [], 'i386', false], // amd64 runs i386 natively
    ['chroot', [], 'all', false],
    ['host', [], 'riscv64', false], // cross-compiled by the recipe
    ['host', ['riscv64'], 'riscv64', true], // a Debian package builds in its env
  ];
  for (const [backend, debian, arch, expected] of rows) {
    const f = emulatedBy({ backend: { name: backend } as never }, new Set(debian), 'amd64');
    assert.equal(f(arch), expected, `${backend} ${debian.join(',')} ${arch}`);
  }
  // --cross: every job builds in an env of this machine's arch.
  assert.equal(emulatedBy({ backend: { name: 'chroot' } as never, crossFrom: 'amd64' }, new Set(['riscv64']), 'amd64')('riscv64'), false);
});
