import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveBinnmus, autoBinnmuApplies, binnmuNumberOf, binnmuVersionOf, chooseBinnmu, nextBinnmu, withBinnmu, type BinnmusSeen, type ReservedBinnmu } from './auto-binnmu.ts';
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

test('archiveBinnmus: the numbers of the source\'s architecture-dependent binaries at the version, from the index', () => {
  const u = lazyPackages(PACKAGES, 'test Packages');
  // hello-data (all) is listed on every arch, built there or not: not counted.
  assert.deepEqual(archiveBinnmus(u, 'hello', '2.10-3', ['hello', 'hello-data', 'hello-tools']).sort(), [0, 2]);
  assert.deepEqual(archiveBinnmus(u, 'hello', '2.10-2', ['hello-data']), []);
  assert.deepEqual(archiveBinnmus(u, 'hello', '2.10-4', ['hello']), []);
  assert.deepEqual(archiveBinnmus(u, 'other', '2.10-3', ['hello-tools']), [5]);
});

function job(o: { version?: string; arch?: string; archs?: Record<string, 'binary' | 'binary-arch' | 'binary-indep'>; architecture?: string[]; mode?: 'binary' | 'binary-arch' | 'binary-indep'; auto?: boolean; packages?: Record<string, string> } = {}): Job {
  const arch = o.arch ?? 'amd64';
  const universes = new Map(Object.entries(o.packages ?? {}).map(([a, text]) => [a, lazyPackages(text, `test ${a} Packages`)]));
  const empty = lazyPackages('', 'test Packages');
  const debian = {
    suite: { suite: 'bookworm', mirror: 'http://mirror.invalid/debian', release: undefined, packages: (a: string) => ({ path: '/nonexistent', universe: universes.get(a) ?? empty }) },
    source: { package: 'hello', version: o.version ?? '2.10-3', binaries: ['hello', 'hello-data'], architecture: o.architecture ?? ['any'] },
    options: { profiles: [], nocheck: false, mode: 'binary', ...(o.auto === false ? {} : { autoBinnmu: true }) },
    modeFor: o.archs ?? { [arch]: o.mode ?? 'binary-arch' },
  } as unknown as DebianBuildSpec;
  return { id: `hello@${arch}`, arch, spec: { name: 'hello', version: o.version ?? '2.10-3', debian } } as unknown as Job;
}

const seen = (reserved: ReservedBinnmu[] = [], published: BinnmusSeen['published'] = []): BinnmusSeen => ({ reserved, published });
const r = (key: string, binaryVersion: string | null, arch = 'amd64'): ReservedBinnmu => ({ arch, key, binaryVersion });

test('chooseBinnmu: a first build is none; a rebuild of the version is one past the highest number seen, with why', () => {
  assert.deepEqual(chooseBinnmu(job(), 'k1', seen()), { n: 0 });
  assert.deepEqual(chooseBinnmu(job(), 'k2', seen([r('k1', null)])), { n: 1, why: '--binnmu auto: hello 2.10-3 on amd64 was built here once (2.10-3): this build is the binNMU 2.10-3+b1' });
  assert.equal(chooseBinnmu(job(), 'k3', seen([r('k1', null), r('k2', '2.10-3+b1'), r('kx', '2.10-3+b7')])).n, 8);
  // Another version's number is not counted.
  assert.equal(chooseBinnmu(job(), 'k3', seen([r('k1', '2.10-4+b3')])).n, 0);
  const third = withBinnmu(job(), chooseBinnmu(job(), 'k3', seen([r('k1', null), r('k2', '2.10-3+b1')])));
  assert.equal(third.spec.debian?.options.binnmu, 2);
  assert.match(third.spec.debian?.binnmuWhy ?? '', /was built here twice \(2\.10-3, \+b1\)/);
  assert.equal(binnmuVersionOf(third.spec, 'amd64'), '2.10-3+b2');
  assert.equal(binnmuVersionOf(job().spec, 'amd64'), undefined);
  assert.equal(withBinnmu(job(), { n: 0 }).spec.debian?.options.binnmu, undefined);
});

test('chooseBinnmu: the same key reserved before on the arch keeps its number (a --force rebuild)', () => {
  const rows = [r('k1', null), r('k2', '2.10-3+b1')];
  const again = chooseBinnmu(job(), 'k2', seen(rows));
  assert.equal(again.n, 1);
  assert.match(again.why ?? '', /built here from these very inputs as the binNMU 2\.10-3\+b1: built again as that/);
  assert.deepEqual(chooseBinnmu(job(), 'k1', seen(rows)), { n: 0 });
  // The same key on another arch of the run is another build.
  assert.equal(chooseBinnmu(job({ archs: { amd64: 'binary-arch', arm64: 'binary-arch' } }), 'k1', seen([r('k1', null, 'arm64')])).n, 1);
});

test('chooseBinnmu: the repository\'s listing and the archive count too', () => {
  assert.deepEqual(chooseBinnmu(job(), 'k1', seen([], [{ arch: 'amd64', version: '2.10-3+b4' }, { arch: 'amd64', version: '9.9' }])), { n: 5, why: '--binnmu auto: hello 2.10-3 on amd64 was published in the repository (+b4): this build is the binNMU 2.10-3+b5' });
  const archive = chooseBinnmu(job({ packages: { amd64: PACKAGES } }), 'k1', seen());
  assert.deepEqual(archive, { n: 3, why: "--binnmu auto: hello 2.10-3 on amd64 was in bookworm's archive (2.10-3, +b2): this build is the binNMU 2.10-3+b3" });
  assert.match(chooseBinnmu(job({ packages: { amd64: PACKAGES } }), 'k9', seen([r('k1', '2.10-3+b3')])).why ?? '', /was built here once \(\+b3\), in bookworm's archive \(2\.10-3, \+b2\): this build is the binNMU 2\.10-3\+b4/);
});

test('chooseBinnmu: numbered over every arch the run builds the source for, so archs rebuilt together share the number', () => {
  const archs = { amd64: 'binary' as const, arm64: 'binary-arch' as const, all: 'binary-indep' as const };
  // arm64 is new to the run; amd64 was built here as +b1: arm64 gets +b2, as amd64's rebuild does.
  const arm = chooseBinnmu(job({ arch: 'arm64', archs }), 'ka', seen([r('k1', null), r('k2', '2.10-3+b1')]));
  assert.equal(arm.n, 2);
  assert.match(arm.why ?? '', /hello 2\.10-3 on amd64, arm64 was built here twice/);
  assert.equal(chooseBinnmu(job({ arch: 'amd64', archs }), 'k3', seen([r('k1', null), r('k2', '2.10-3+b1')])).n, 2);
  // An arch the run does not build the source for is not counted.
  assert.equal(chooseBinnmu(job(), 'k1', seen([r('k1', '2.10-3+b6', 'riscv64')], [{ arch: 'riscv64', version: '2.10-3+b6' }])).n, 0);
});

test('autoBinnmuApplies: not for arch-independent builds, sources of `all` packages only, or without auto', () => {
  for (const j of [job({ arch: 'all', mode: 'binary-indep' }), job({ mode: 'binary-indep' }), job({ architecture: ['all'], mode: 'binary' }), job({ auto: false })]) {
    assert.equal(autoBinnmuApplies(j), false);
  }
  // A source of both: a binNMU, built in two halves (execute/debian-build.ts).
  assert.equal(autoBinnmuApplies(job({ architecture: ['any', 'all'], mode: 'binary' })), true);
});
