import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SandboxEnv } from '../sandbox/sandbox.ts';
import { buildModeMark, buildModeOf, buildModesOf, type BuildMode, type BuildModeJob } from './build-mode.ts';

test('buildModeOf: native, under QEMU, cross-built by kiln, or by a recipe for another arch than it runs on', () => {
  const cases: [string, BuildModeJob, string, BuildMode][] = [
    ['an env of the machine\'s arch', { arch: 'amd64', runsOn: 'amd64' }, 'amd64', 'native'],
    ['an env of a foreign arch (qemu-user-static)', { arch: 'riscv64', runsOn: 'riscv64' }, 'amd64', 'emulated'],
    ['a Debian job in an env of its arch', { arch: 'arm64', runsOn: 'arm64' }, 'amd64', 'emulated'],
    ['an arch the machine runs natively (i386 on amd64)', { arch: 'i386', runsOn: 'i386' }, 'amd64', 'native'],
    ['an arm64 machine building arm64', { arch: 'arm64', runsOn: 'arm64' }, 'arm64', 'native'],
    ['--cross: a Debian job for another arch, in the build arch\'s env', { arch: 'riscv64', runsOn: 'amd64', debianCross: 'amd64' }, 'amd64', 'cross'],
    ['--cross: i386 is cross-built too (dpkg-buildpackage -a i386)', { arch: 'i386', runsOn: 'amd64', debianCross: 'amd64' }, 'amd64', 'cross'],
    ['--cross: the build arch\'s own job', { arch: 'amd64', runsOn: 'amd64', debianCross: 'amd64' }, 'amd64', 'native'],
    ['--cross: an arch-independent job', { arch: 'all', runsOn: 'amd64', debianCross: 'amd64' }, 'amd64', 'native'],
    ['--cross: a recipe for another arch, in the build arch\'s env', { arch: 'arm64', runsOn: 'amd64' }, 'amd64', 'recipe-cross'],
    ['the host sandbox: a recipe for a foreign arch', { arch: 'riscv64', runsOn: 'amd64' }, 'amd64', 'recipe-cross'],
    ['the host sandbox: a recipe for i386 on amd64 (still its script\'s doing)', { arch: 'i386', runsOn: 'amd64' }, 'amd64', 'recipe-cross'],
    ['the host sandbox: an arch-independent recipe', { arch: 'all', runsOn: 'amd64' }, 'amd64', 'native'],
    ['an arch-independent job in a foreign env (--arch riscv64)', { arch: 'all', runsOn: 'riscv64' }, 'amd64', 'emulated'],
  ];
  for (const [what, job, host, want] of cases) assert.equal(buildModeOf(job, host), want, what);
});

test('buildModeMark: a short mark for the arch column, none for a native job', () => {
  assert.deepEqual((['native', 'emulated', 'cross', 'recipe-cross', undefined] as const).map(buildModeMark), [undefined, 'QEMU', 'cross', 'cross by recipe', undefined]);
});

test('buildModesOf: the non-native jobs of a plan, from the env each builds in (none on the host sandbox)', () => {
  const env = (arch: string): SandboxEnv => ({ id: `bookworm-${arch}@1`, name: `bookworm-${arch}`, arch, layers: [] });
  const nodes = [
    { id: 'hello@amd64', arch: 'amd64', spec: { debian: { cross: 'amd64' } } },
    { id: 'hello@arm64', arch: 'arm64', spec: { debian: { cross: 'amd64' } } },
    { id: 'tool@arm64', arch: 'arm64', spec: {} },
    { id: 'bad@arm64', arch: 'arm64' },
  ];
  // --cross: every job in the amd64 env.
  assert.deepEqual(buildModesOf(nodes, { envs: { envFor: () => env('amd64') }, hostArch: 'amd64' }), new Map([['hello@arm64', 'cross'], ['tool@arm64', 'recipe-cross'], ['bad@arm64', 'recipe-cross']]));
  // One env per arch: arm64 under QEMU (no --cross in the specs).
  const perArch = nodes.map((n) => ({ id: n.id, arch: n.arch, spec: {} }));
  assert.deepEqual(buildModesOf(perArch, { envs: { envFor: (a) => env(a) }, hostArch: 'amd64' }), new Map([['hello@arm64', 'emulated'], ['tool@arm64', 'emulated'], ['bad@arm64', 'emulated']]));
  // The host sandbox: no env.
  assert.deepEqual(buildModesOf(perArch, { envs: { envFor: () => undefined }, hostArch: 'amd64' }), new Map([['hello@arm64', 'recipe-cross'], ['tool@arm64', 'recipe-cross'], ['bad@arm64', 'recipe-cross']]));
});
