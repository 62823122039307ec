import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokenFrom, covers, doseRuns, quickPick, rawArchitecture, runSources, targetArchsOf, type Checkable } from './dose-runs.ts';
import { lazySources } from './lazy-index.ts';

const REQ = { archs: ['amd64'], options: { mode: 'binary' as const } };
const item = (name: string, architecture: string, stanza = `Package: ${name}\nArchitecture: ${architecture}`): Checkable => ({ name, stanza, architecture: architecture.split(' ') });

test('doseRuns: one run per arch and mode, in the order given; empty groups left out', () => {
  const runs = doseRuns([item('a', 'any'), item('b', 'all'), item('c', 'any all'), item('d', 'arm64'), item('e', 'linux-any')], REQ);
  assert.deepEqual(runs.map((r) => [r.arch, r.mode, [...r.sources.keys()]]), [
    ['amd64', 'binary', ['c']],
    ['amd64', 'binary-arch', ['a', 'e']],
    ['amd64', 'binary-indep', ['b']],
  ]);
  const two = doseRuns([item('a', 'any'), item('c', 'any all'), item('r', 'riscv64 all')], { ...REQ, archs: ['amd64', 'riscv64'] });
  assert.deepEqual(two.map((r) => [r.arch, r.mode, [...r.sources.keys()]]), [
    ['amd64', 'binary', ['c']],
    ['amd64', 'binary-arch', ['a']],
    ['riscv64', 'binary', ['r']],
    ['riscv64', 'binary-arch', ['a', 'c']],
  ]);
});

test('doseRuns with --cross: the other archs are checked cross from the build arch (-B), arch-independent sources on the build arch', () => {
  const cross = doseRuns([item('a', 'any'), item('b', 'all'), item('c', 'any all')], { ...REQ, archs: ['arm64'], cross: 'amd64' });
  assert.deepEqual(cross.map((r) => [r.arch, r.mode, r.cross, [...r.sources.keys()]]), [
    ['arm64', 'binary-arch', 'amd64', ['a', 'c']],
    ['amd64', 'binary-indep', undefined, ['b']],
  ]);
  // The build arch in the run too: built natively there (-b), cross for the other.
  const both = doseRuns([item('a', 'any'), item('c', 'any all')], { ...REQ, archs: ['arm64', 'amd64'], cross: 'amd64' });
  assert.deepEqual(both.map((r) => [r.arch, r.mode, r.cross, [...r.sources.keys()]]), [
    ['arm64', 'binary-arch', 'amd64', ['a', 'c']],
    ['amd64', 'binary', undefined, ['c']],
    ['amd64', 'binary-arch', undefined, ['a']],
  ]);
});

test('quickPick: the highest version not Extra-Source-Only, from raw fields; unsure without a Version', () => {
  const idx = lazySources([
    'Package: p\nVersion: 1.0-1\nArchitecture: any',
    'Package: p\nVersion: 2.0-1\nArchitecture: any\nExtra-Source-Only: yes',
    'Package: p\nVersion: 1.5-1\nArchitecture:\n amd64\n all',
    'Package: q\nVersion: 1\nExtra-Source-Only: yes',
    'Package: r\nArchitecture: any',
    'Package: r\nVersion: 1\nArchitecture: any',
  ].join('\n\n') + '\n', 'test');
  const p = quickPick(idx, 'p');
  assert.equal(typeof p === 'string' && p.includes('Version: 1.5-1'), true);
  assert.deepEqual(rawArchitecture(p as string), ['amd64', 'all']);
  assert.equal(quickPick(idx, 'q'), undefined);
  assert.equal(quickPick(idx, 'r'), 'unsure');
});

test('covers: each wanted run has a guessed run of its arch and mode holding the same stanzas (more is fine)', () => {
  const guess = doseRuns([item('a', 'any'), item('bad', 'any'), item('b', 'all')], REQ);
  assert.deepEqual(covers(guess, doseRuns([item('a', 'any'), item('b', 'all')], REQ)), [0, 1]);
  assert.deepEqual(covers(guess, doseRuns([item('b', 'all')], REQ)), [1]);
  assert.equal(covers(guess, doseRuns([item('a', 'any'), item('c', 'any')], REQ)), undefined, 'a source the guess left out');
  assert.equal(covers(guess, doseRuns([item('a', 'any', 'Package: a\nVersion: 2')], REQ)), undefined, 'another stanza');
  assert.equal(covers(guess, doseRuns([item('a', 'any all')], REQ)), undefined, 'another mode');
  assert.deepEqual(covers(guess, []), []);
});

test('covers and runSources: a guess read as latin1 is the same bytes as the parsed UTF-8 text', () => {
  const utf8 = 'Package: a\nMaintainer: Zoë\nArchitecture: any';
  const latin1 = Buffer.from(utf8, 'utf8').toString('latin1');
  assert.notEqual(latin1, utf8);
  const guess = doseRuns([item('a', 'any', latin1)], REQ, true);
  assert.deepEqual(covers(guess, doseRuns([item('a', 'any', utf8)], REQ)), [0]);
  assert.deepEqual(runSources(guess[0]!), Buffer.from(`${utf8}\n`, 'utf8'));
  // The same characters in both encodings are not the same bytes once past ASCII.
  assert.equal(covers(doseRuns([item('a', 'any', utf8)], REQ, true), doseRuns([item('a', 'any', utf8)], REQ)), undefined);
});

test('brokenFrom: per source, one message per run that found it broken; answers about others dropped', () => {
  const runs = doseRuns([item('a', 'any'), item('b', 'all')], REQ);
  const broken = brokenFrom(runs, [
    [{ source: 'a', version: '1', reason: 'unsat-dependency: x' }, { source: 'zz', version: '1', reason: 'not ours' }],
    [{ source: 'b', version: '1', reason: 'unsat-conflict: y' }],
  ]);
  assert.deepEqual([...broken], [
    ['a', ['amd64: build dependencies not installable: unsat-dependency: x']],
    ['b', ['amd64: build dependencies not installable: unsat-conflict: y']],
  ]);
  // A cross build's says so, and what a cross-buildable source does.
  const cross = brokenFrom([{ arch: 'arm64', mode: 'binary-arch', cross: 'amd64', sources: new Map([['c', '']]) }], [[{ source: 'c', version: '1', reason: 'unsat-conflict: make:amd64' }]]);
  assert.deepEqual([...cross], [['c', ['arm64: build dependencies not installable for a cross build from amd64: unsat-conflict: make:amd64 (a source that cross-builds names its build tools :native, or the tools are Multi-Arch: foreign; build this one natively, without --cross)']]]);
});

test('targetArchsOf: the jobs of a source for the mode asked; -A builds the arch-independent part once, -B no all job; nothing when the mode leaves nothing', () => {
  const rows: [string[], string[], 'binary' | 'binary-arch' | 'binary-indep', string[]][] = [
    [['any', 'all'], ['amd64', 'arm64'], 'binary', ['amd64', 'arm64']],
    [['all'], ['amd64', 'arm64'], 'binary', ['all']],
    [['any', 'all'], ['amd64', 'arm64'], 'binary-indep', ['all']],
    [['any'], ['amd64', 'arm64'], 'binary-indep', []],
    [['any', 'all'], ['amd64', 'arm64'], 'binary-arch', ['amd64', 'arm64']],
    [['all'], ['amd64'], 'binary-arch', []],
    [['i386', 'all'], ['amd64'], 'binary', ['all']],
    [['i386', 'all'], ['amd64'], 'binary-arch', []],
  ];
  for (const [words, archs, mode, want] of rows) assert.deepEqual(targetArchsOf(words, archs, mode), want, `${words.join(' ')} on ${archs.join(',')} ${mode}`);
});

test('jobsMode: a binNMU\'s own -B does not take the jobs of arch-independent-only sources away; -A and -B asked for do', async () => {
  const { jobsMode } = await import('./dose-runs.ts');
  assert.equal(jobsMode({ mode: 'binary-arch', binnmu: 1 }), 'binary');
  assert.deepEqual(targetArchsOf(['all'], ['amd64'], jobsMode({ mode: 'binary-arch', binnmu: 1 })), ['all']);
  assert.equal(jobsMode({ mode: 'binary-arch' }), 'binary-arch');
  assert.equal(jobsMode({ mode: 'binary-indep' }), 'binary-indep');
});
