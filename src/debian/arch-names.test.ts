// arch-names: the Debian arch names kiln accepts are dpkg's, and the "did you mean" of a
// name that is not one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { DEBIAN_ARCHS, DEBIAN_CPUS, closestArch, didYouMeanArch, isDebianArch } from './arch-names.ts';

function dpkgArchitectures(): string[] | undefined {
  try {
    return execFileSync('dpkg-architecture', ['-L'], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
  } catch {
    return undefined;
  }
}

const dpkgList = dpkgArchitectures();

test('the names are exactly those of dpkg-architecture -L on this host', { skip: dpkgList === undefined ? 'no dpkg-architecture (dpkg-dev)' : false }, () => {
  const theirs = new Set(dpkgList);
  assert.deepEqual([...theirs].filter((a) => !DEBIAN_ARCHS.has(a)), [], 'dpkg knows, kiln does not');
  assert.deepEqual([...DEBIAN_ARCHS].filter((a) => !theirs.has(a)), [], 'kiln knows, dpkg does not');
  // The names without an OS part are those without a hyphen.
  assert.deepEqual([...DEBIAN_CPUS].sort(), [...theirs].filter((a) => !a.includes('-')).sort());
});

test('isDebianArch: real names yes; wildcards, other systems\' names, case and typos no', () => {
  const cases: [string, boolean][] = [
    ['amd64', true], ['arm64', true], ['armhf', true], ['riscv64', true], ['x32', true], ['hurd-amd64', true], ['musl-linux-arm64', true], ['mint-m68k', true],
    ['any', false], ['all', false], ['linux-any', false], ['AMD64', false], ['amd65', false], ['x86-64', false], ['x86_64', false], ['i686', false],
    ['hurd-x86', false], ['mint-amd64', false], ['', false], [' amd64', false],
  ];
  for (const [name, want] of cases) assert.equal(isDebianArch(name), want, JSON.stringify(name));
});

test('closestArch: lowercase, another system\'s name, else the nearest typo; nothing for far or short words', () => {
  const cases: [string, string | undefined][] = [
    ['AMD64', 'amd64'], ['Hurd-AMD64', 'hurd-amd64'], ['x86_64', 'amd64'], ['x86-64', 'amd64'], ['i686', 'i386'], ['aarch64', 'arm64'], ['ppc64le', 'ppc64el'],
    ['amd65', 'amd64'], ['riscv46', 'riscv64'], ['hurd-amd65', 'hurd-amd64'], ['arm46', 'arm64'], ['armfh', 'armhf'],
    ['any', undefined], ['all', undefined], ['zzzz', undefined], ['windows', undefined],
  ];
  for (const [word, want] of cases) assert.equal(closestArch(word), want, word);
  assert.equal(didYouMeanArch('amd65'), ' (did you mean "amd64"?)');
  assert.equal(didYouMeanArch('zzzz'), '');
});
