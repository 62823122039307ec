import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allBuildArchOf } from './host-env.ts';

test('allBuildArchOf: an "all" job builds with the arch it runs on: the host\'s on the host sandbox, else its env\'s', () => {
  const rows: Array<[sandbox: 'auto' | 'host' | 'chroot' | 'rootless', env: string | undefined, archs: string[], crossFrom: string | undefined, expected: string]> = [
    // An env: the run's first arch (the env `all` jobs build in, run-envs.ts).
    ['auto', 'sid-{arch}', ['riscv64', 'amd64'], undefined, 'riscv64'],
    ['auto', 'sid-{arch}', ['riscv64'], undefined, 'riscv64'],
    ['chroot', 'sid-{arch}', ['arm64', 'amd64'], undefined, 'arm64'],
    ['rootless', 'sid-{arch}', ['all', 'arm64'], undefined, 'arm64'],
    ['auto', 'sid-{arch}', ['all'], undefined, 'amd64'],
    // --cross: every job builds in the env of the build arch.
    ['auto', 'sid-{arch}', ['riscv64', 'arm64'], 'amd64', 'amd64'],
    // The host sandbox, asked for or for want of an env: this machine.
    ['host', 'sid-{arch}', ['riscv64', 'amd64'], undefined, 'amd64'],
    ['auto', undefined, ['riscv64', 'amd64'], undefined, 'amd64'],
    ['auto', undefined, ['riscv64'], undefined, 'amd64'],
  ];
  for (const [sandbox, envTemplate, archs, crossFrom, expected] of rows) {
    assert.equal(allBuildArchOf({ sandbox, envTemplate, archs, hostArch: 'amd64', crossFrom }), expected, `${sandbox} ${envTemplate} ${archs.join(',')} ${crossFrom}`);
  }
});
