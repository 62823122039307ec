import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveBinnmus, binnmuNumberOf, binnmuVersionOf, nextBinnmu, withAutoBinnmu, type EarlierBuild } from './auto-binnmu.ts';
import { lazyPackages } from './lazy-index.ts';
import type { Job } from '../plan/job.ts';
import type { DebianBuildSpec } from './debian-spec.ts';

test('binnmuNumberOf: 0 for the version itself, N for VERSION+bN, undefined for anything else', () => {
  const cases: [string, string, number | undefined][] = [
    ['2.10-3', '2.10-3', 0],
    ['2.10-3+b1', '2.10-3', 1],
    ['2.10-3+b12', '2.10-3', 12],
    ['2.10-3+b0', '2.10-3', undefined],
    ['2.10-3+b', '2.10-3', undefined],
    ['2.10-3+b1x', '2.10-3', undefined],
    ['2.10-4', '2.10-3', undefined],
    ['2.10-3+deb12u1', '2.10-3', undefined],
    ['1:2.10-3+b1', '2.10-3', undefined],
  ];
  for (const [binary, version, want] of cases) assert.equal(binnmuNumberOf(binary, version), want, `${binary} of ${version}`);
});

test('nextBinnmu: none for a first build, else one past the highest seen (the version itself counting as 0)', () => {
  assert.equal(nextBinnmu([]), undefined);
  assert.equal(nextBinnmu([0]), 1);
  assert.equal(nextBinnmu([0, 1]), 2);
  assert.equal(nextBinnmu([3, 0, 1]), 4);
});

const stanza = (s: string) => `${s}Filename: pool/x.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`;
const PACKAGES = [
  stanza('Package: hello\nSource: hello\nVersion: 2.10-3\nArchitecture: amd64\n'),
  stanza('Package: hello\nSource: hello\nVersion: 2.10-3+b2\nArchitecture: amd64\n'),
  stanza('Package: hello-data\nSource: hello\nVersion: 2.10-2\nArchitecture: all\n'),
  // Another source's binary of the same name and version is not hello's.
  stanza('Package: hello-tools\nSource: other (2.10-3)\nVersion: 2.10-3+b5\nArchitecture: amd64\n'),
].join('\n');

test('archiveBinnmus: the numbers of the source\'s binaries at the version, from the index', () => {
  const u = lazyPackages(PACKAGES, 'test Packages');
  assert.deepEqual(archiveBinnmus(u, 'hello', '2.10-3', ['hello', 'hello-data', 'hello-tools']).sort(), [0, 2]);
  assert.deepEqual(archiveBinnmus(u, 'hello', '2.10-4', ['hello']), []);
  assert.deepEqual(archiveBinnmus(u, 'other', '2.10-3', ['hello-tools']), [5]);
});

function job(o: { version?: string; arch?: string; architecture?: string[]; mode?: 'binary' | 'binary-arch' | 'binary-indep'; auto?: boolean; packages?: string } = {}): Job {
  const arch = o.arch ?? 'amd64';
  const universe = lazyPackages(o.packages ?? '', 'test Packages');
  const debian = {
    suite: { suite: 'bookworm', mirror: 'http://mirror.invalid/debian', release: undefined, packages: () => ({ path: '/nonexistent', universe }) },
    source: { package: 'hello', version: o.version ?? '2.10-3', binaries: ['hello'], architecture: o.architecture ?? ['any'] },
    options: { profiles: [], nocheck: false, mode: 'binary', ...(o.auto === false ? {} : { autoBinnmu: true }) },
    modeFor: { [arch]: o.mode ?? 'binary-arch' },
  } as unknown as DebianBuildSpec;
  return { id: `hello@${arch}`, arch, spec: { name: 'hello', version: o.version ?? '2.10-3', debian } } as unknown as Job;
}

const none = (): EarlierBuild[] => [];

test('withAutoBinnmu: a first build stays as it is; a rebuild of the version is the next binNMU, with why', () => {
  assert.equal(withAutoBinnmu(job(), 'k1', none).spec.debian?.options.binnmu, undefined);
  const built = (...bs: EarlierBuild[]) => (name: string, arch: string, version: string) => {
    assert.deepEqual([name, arch, version], ['hello', 'amd64', '2.10-3']);
    return bs;
  };
  const second = withAutoBinnmu(job(), 'k2', built({ key: 'k1', binaryVersion: null }));
  assert.equal(second.spec.debian?.options.binnmu, 1);
  assert.equal(second.spec.debian?.binnmuWhy, '--binnmu auto: hello 2.10-3 on amd64 was built here once (2.10-3): this build is the binNMU 2.10-3+b1');
  const third = withAutoBinnmu(job(), 'k3', built({ key: 'k1', binaryVersion: null }, { key: 'k2', binaryVersion: '2.10-3+b1' }, { key: 'kx', binaryVersion: '2.10-3+b7' }));
  assert.equal(third.spec.debian?.options.binnmu, 8);
  // A row of another version's number (a record of another kiln) is not counted.
  assert.equal(withAutoBinnmu(job(), 'k3', built({ key: 'k1', binaryVersion: '2.10-4+b3' })).spec.debian?.options.binnmu, undefined);
  assert.equal(binnmuVersionOf(third.spec, 'amd64'), '2.10-3+b8');
  assert.equal(binnmuVersionOf(job().spec, 'amd64'), undefined);
});

test('withAutoBinnmu: the same key built before keeps that build\'s number (a --force rebuild)', () => {
  const rows = () => [{ key: 'k1', binaryVersion: null }, { key: 'k2', binaryVersion: '2.10-3+b1' }];
  const again = withAutoBinnmu(job(), 'k2', rows);
  assert.equal(again.spec.debian?.options.binnmu, 1);
  assert.match(again.spec.debian?.binnmuWhy ?? '', /built here from these very inputs as the binNMU 2\.10-3\+b1: built again as that/);
  // The first build's key: no binNMU, as then.
  assert.equal(withAutoBinnmu(job(), 'k1', rows).spec.debian?.options.binnmu, undefined);
});

test('withAutoBinnmu: a version the archive has (plain or binNMUed) gets one past the archive\'s number too', () => {
  const j = withAutoBinnmu(job({ packages: PACKAGES }), 'k1', none);
  assert.equal(j.spec.debian?.options.binnmu, 3);
  assert.equal(j.spec.debian?.binnmuWhy, "--binnmu auto: hello 2.10-3 on amd64 was in bookworm's archive (2.10-3, +b2): this build is the binNMU 2.10-3+b3");
  const both = withAutoBinnmu(job({ packages: PACKAGES }), 'k9', () => [{ key: 'k1', binaryVersion: '2.10-3+b3' }]);
  assert.equal(both.spec.debian?.options.binnmu, 4);
  assert.match(both.spec.debian?.binnmuWhy ?? '', /was built here once \(\+b3\) and in bookworm's archive \(2\.10-3, \+b2\)/);
});

test('withAutoBinnmu: not for arch-independent builds, sources of `all` packages only, or without auto', () => {
  const rows = () => [{ key: 'k1', binaryVersion: null }];
  for (const j of [job({ arch: 'all', mode: 'binary-indep' }), job({ mode: 'binary-indep' }), job({ architecture: ['all'], mode: 'binary' }), job({ auto: false })]) {
    assert.equal(withAutoBinnmu(j, 'k2', rows), j);
  }
  // A source of both: a binNMU, built in two halves (execute/debian-build.ts).
  assert.equal(withAutoBinnmu(job({ architecture: ['any', 'all'], mode: 'binary' }), 'k2', rows).spec.debian?.options.binnmu, 1);
});
