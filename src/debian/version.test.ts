import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { compareVersions, parseVersion, satisfiesConstraint, versionProblem } from './version.ts';
import type { VersionOp } from './relation-types.ts';

// Expected orderings were produced with `dpkg --compare-versions` (dpkg 1.21) and are
// cross-checked against dpkg again below whenever it is installed.
const ORDER: readonly (readonly [string, '<' | '=' | '>', string])[] = [
  ['1.0~rc1', '<', '1.0'],
  ['1:0', '>', '2.0'],
  ['1.0-1', '<', '1.0-2'],
  ['1.0', '=', '1.0-0'],
  ['1.0', '<', '1.0.0'],
  ['1.0', '<', '1.0-1'],
  ['0', '=', '0:0'],
  ['0:0', '=', '0:0-0'],
  ['0:0-0', '=', '0:0-0'],
  ['1.0', '=', '1.0'],
  ['1.0~', '<', '1.0'],
  ['1.0~~', '<', '1.0~'],
  ['1.0~~a', '>', '1.0~~'],
  ['1.0~a', '>', '1.0~'],
  ['1.0', '<', '1.0+'],
  ['1.0+', '<', '1.0.'],
  ['1.0a', '>', '1.0'],
  ['1.0a', '<', '1.0.'],
  ['1.0a', '<', '1.0+'],
  ['1.0a', '>', '1.0~'],
  ['1.0a', '<', '1.0b'],
  ['1.0A', '<', '1.0a'],
  ['1.0Z', '<', '1.0a'],
  ['1.01', '=', '1.1'],
  ['1.001', '=', '1.1'],
  ['1.010', '>', '1.9'],
  ['1.9', '<', '1.10'],
  ['1.10', '<', '1.100'],
  ['1.2.3', '<', '1.2.3.0'],
  ['2.0-1', '<', '10.0-1'],
  ['1.0-1', '>', '1.0-1~'],
  ['1.0-1', '<', '1.0-1.1'],
  ['1.0-1', '<', '1.0-1ubuntu1'],
  ['1.0-1ubuntu1', '>', '1.0-1build1'],
  ['1.0-1+b1', '>', '1.0-1'],
  ['1.0-1+deb12u1', '<', '1.0-1+deb12u2'],
  ['1.0-1~bpo12+1', '<', '1.0-1'],
  ['2:1.0', '>', '1:9.9'],
  ['1:1.0', '>', '1.0'],
  ['10:1', '>', '9:1'],
  ['1.0-a', '>', '1.0-0'],
  ['a', '>', '1'],
  ['a', '<', 'b'],
  ['abc', '<', 'abd'],
  ['00001', '=', '1'],
  ['0001.0001', '=', '1.1'],
  ['99999999999999999999999999', '>', '99999999999999999999999998'],
  ['1.99999999999999999999999999', '<', '1.100000000000000000000000000'],
  ['0.0.0', '>', '0'],
  ['1.2-3-4', '>', '1.2-3'],
  ['1.2-3-4', '>', '1.2'],
  ['5.2.1~git20200101', '<', '5.2.1'],
  ['5.2.1+git20200101', '>', '5.2.1'],
  ['1.0+dfsg-1', '>', '1.0-1'],
  ['1.0+dfsg1-1', '>', '1.0+dfsg-1'],
  ['1.0-0.1', '>', '1.0-0'],
  ['7.6p2-4', '>', '7.6-0'],
  ['1.1.1', '<', '1.1.1a'],
  ['1:2:3', '<', '1:2:4'],
  ['1~rc1', '>', '1~beta2'],
  ['1~', '<', '1'],
  ['~', '<', '0'],
  ['~~', '<', '~'],
  ['1.0.0~alpha', '<', '1.0.0~alpha.1'],
  ['1.0.0~alpha.1', '<', '1.0.0~alpha.beta'],
  ['1.0.0~beta', '<', '1.0.0~beta.2'],
  ['1.0.0~beta.2', '<', '1.0.0~beta.11'],
  ['1.0.0~rc.1', '<', '1.0.0'],
];

const SIGN = { '<': -1, '=': 0, '>': 1 } as const;

test('compareVersions orders the dpkg table, both ways round', () => {
  for (const [a, rel, b] of ORDER) {
    assert.equal(compareVersions(a, b), SIGN[rel], `${a} ${rel} ${b}`);
    assert.equal(compareVersions(b, a), SIGN[rel] === 0 ? 0 : -SIGN[rel], `${b} vs ${a} (reversed)`);
  }
});

test('compareVersions sorts a realistic list', () => {
  const sorted = ['1.0~rc1-1', '1.0-1~bpo1', '1.0-1', '1.0-1+b1', '1.0-1.1', '1.0+dfsg-1', '1.0.1-1', '1.10-1', '1:0.9-1'];
  const shuffled = [sorted[4]!, sorted[8]!, sorted[0]!, sorted[6]!, sorted[2]!, sorted[7]!, sorted[1]!, sorted[5]!, sorted[3]!];
  assert.deepEqual(shuffled.sort(compareVersions), sorted);
});

test('parseVersion splits epoch, upstream and revision', () => {
  const cases: readonly (readonly [string, number, string, string])[] = [
    ['1.0', 0, '1.0', ''],
    ['1:2.3-4', 1, '2.3', '4'],
    ['2.3-4-5', 0, '2.3-4', '5'],
    ['1:2:3-4', 1, '2:3', '4'],
    ['  1.0-1 \n', 0, '1.0', '1'],
    ['0:0', 0, '0', ''],
    ['a1.0', 0, 'a1.0', ''], // dpkg only warns that upstream does not start with a digit
    ['1.0~rc1+dfsg-0ubuntu1~22.04', 0, '1.0~rc1+dfsg', '0ubuntu1~22.04'],
    ['2147483647:1', 2147483647, '1', ''],
  ];
  for (const [s, epoch, upstream, revision] of cases) {
    assert.deepEqual(parseVersion(s), { epoch, upstream, revision }, s);
  }
});

test('parseVersion rejects what dpkg rejects, with a reason', () => {
  const cases: readonly (readonly [string, RegExp])[] = [
    ['', /empty/],
    ['   ', /empty/],
    [':1.0', /epoch in version is empty/],
    ['a:1.0', /epoch in version is not a number/],
    ['-1:1.0', /epoch in version is not a number/],
    ['2147483648:1', /epoch in version is too big/],
    ['1:', /nothing after colon/],
    ['1.0-', /revision number is empty/],
    ['-1', /version number is empty/],
    ['1:-1', /version number is empty/],
    ['1.0 1', /embedded spaces/],
    ['1.0_1', /invalid character "_"/],
    ['1.0/1', /invalid character "\/"/],
    ['${binary:Version}', /epoch in version is not a number/],
    ['1.0$', /invalid character "\$"/],
  ];
  for (const [s, re] of cases) {
    assert.equal(parseVersion(s), undefined, JSON.stringify(s));
    assert.match(versionProblem(s) ?? '', re, JSON.stringify(s));
  }
  assert.equal(versionProblem('1.0-1'), undefined);
});

test('compareVersions orders unparsable strings deterministically instead of throwing', () => {
  assert.equal(compareVersions('1.0_1', '1.0_1'), 0);
  assert.equal(compareVersions('1.0_1', '1.0_2'), -1);
});

test('satisfiesConstraint implements every operator', () => {
  const cases: readonly (readonly [string, VersionOp, string, boolean])[] = [
    ['1.0', '<<', '1.1', true], ['1.1', '<<', '1.1', false], ['1.2', '<<', '1.1', false],
    ['1.0', '<=', '1.1', true], ['1.1', '<=', '1.1', true], ['1.2', '<=', '1.1', false],
    ['1.1', '=', '1.1', true], ['1.1', '=', '1.1-0', true], ['1.1', '=', '1.01', true], ['1.1', '=', '1.1-1', false],
    ['1.0', '>=', '1.1', false], ['1.1', '>=', '1.1', true], ['1.2', '>=', '1.1', true],
    ['1.0', '>>', '1.1', false], ['1.1', '>>', '1.1', false], ['1.2', '>>', '1.1', true],
    ['2.0~rc1', '>=', '2.0', false], ['2.0~rc1', '>=', '2.0~', true], ['1:0.1', '>>', '99', true],
  ];
  for (const [v, op, w, want] of cases) assert.equal(satisfiesConstraint(v, op, w), want, `${v} ${op} ${w}`);
});

test('compareVersions sorts 20,000 versions into a consistent order', { timeout: 30_000 }, () => {
  const rand = mulberry32(7);
  const vs = Array.from({ length: 20000 }, () => randomVersion(rand));
  vs.sort(compareVersions);
  for (let i = 1; i < vs.length; i++) assert.ok(compareVersions(vs[i - 1]!, vs[i]!) <= 0);
});

const hasDpkg = spawnSync('dpkg', ['--version'], { stdio: 'ignore' }).status === 0;

test('compareVersions agrees with dpkg --compare-versions on the table and 200 random pairs', { skip: hasDpkg ? false : 'dpkg is not installed' }, () => {
  // SEED and PAIRS let a developer fuzz longer by hand; the defaults keep the run around a second.
  const rand = mulberry32(Number(process.env.SEED ?? 20240601));
  const pairs: [string, string][] = ORDER.map(([a, , b]) => [a, b]);
  while (pairs.length < ORDER.length + Number(process.env.PAIRS ?? 200)) {
    const a = randomVersion(rand);
    // Half the pairs are near-misses of each other: that is where ordering bugs hide.
    const b = rand() < 0.5 ? randomVersion(rand) : mutate(a, rand);
    if (parseVersion(a) !== undefined && parseVersion(b) !== undefined) pairs.push([a, b]);
  }
  // One shell runs every comparison; prints "<lt-status> <eq-status>" (0 = true, 1 = false, 2 = error) per pair.
  const script = pairs
    .map(([a, b]) => `dpkg --compare-versions '${a}' lt '${b}' 2>/dev/null; l=$?; dpkg --compare-versions '${a}' eq '${b}' 2>/dev/null; echo "$l $?"`)
    .join('\n');
  const lines = execFileSync('sh', ['-s'], { input: script, encoding: 'utf8' }).trim().split('\n');
  assert.equal(lines.length, pairs.length);
  pairs.forEach(([a, b], k) => {
    const line = lines[k];
    assert.ok(line === '0 1' || line === '1 0' || line === '1 1', `dpkg rejected ${a} or ${b}: "${line}"`);
    const want = line === '0 1' ? -1 : line === '1 0' ? 0 : 1;
    assert.equal(compareVersions(a, b), want, `${a} vs ${b}`);
  });
});

// Every pair of these, both ways round: epochs, `~` before and after things, `+`, revisions,
// letters against digits and symbols, leading zeros, and empty parts (`1..0`, `1.`, `1.0-1.`).
const GRID = [
  '0', '1', '9.', '1.0', '1.0.', '1..0', '01.0', '1.0~', '1.0~~', '1.0~rc1', '1.0+', '1.0+b1', '1.0+~', '1.0~+', '1.0a',
  '1.0A', '1.0.a', '1.0-0', '1.0-1', '1.0-1.', '1.0-1+b1', '1.0-a', '1-1-1', '1:0', '0:1.0', '2:0~', 'a', '1a', '~', '1.0-~',
];

test('compareVersions agrees with dpkg --compare-versions on every pair of a grid of edge cases', { skip: hasDpkg ? false : 'dpkg is not installed' }, () => {
  for (const v of GRID) assert.equal(versionProblem(v), undefined, v);
  const pairs: [string, string][] = [];
  for (let i = 0; i < GRID.length; i++) for (let k = i; k < GRID.length; k++) pairs.push([GRID[i]!, GRID[k]!]);
  assert.equal(pairs.length, 465);
  const want = dpkgOrder(pairs);
  const wrong = pairs.flatMap(([a, b], k) =>
    compareVersions(a, b) === want[k] && compareVersions(b, a) === -want[k]! ? [] : [`${a} vs ${b}: dpkg says ${want[k]}, kiln ${compareVersions(a, b)}`]);
  assert.deepEqual(wrong, []);
});

/** dpkg's verdict (-1, 0, 1) for each pair, from one shell running `dpkg --compare-versions` lt and eq. */
function dpkgOrder(pairs: readonly (readonly [string, string])[]): number[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = pairs
    .map(([a, b]) => `dpkg --compare-versions ${q(a)} lt ${q(b)} 2>/dev/null; l=$?; dpkg --compare-versions ${q(a)} eq ${q(b)} 2>/dev/null; echo "$l $?"`)
    .join('\n');
  const lines = execFileSync('sh', ['-s'], { input: script, encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n');
  assert.equal(lines.length, pairs.length);
  return lines.map((line, k) => {
    assert.ok(line === '0 1' || line === '1 0' || line === '1 1', `dpkg rejected ${pairs[k]![0]} or ${pairs[k]![1]}: "${line}"`);
    return line === '0 1' ? -1 : line === '1 0' ? 0 : 1;
  });
}

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

function digits(rand: () => number): string {
  const r = rand();
  if (r < 0.05) return '9'.repeat(20) + String(Math.floor(rand() * 10)); // beyond 64-bit
  if (r < 0.15) return '0' + String(Math.floor(rand() * 10)); // leading zero
  return String(Math.floor(rand() * (r < 0.6 ? 10 : 1000)));
}

const SEPS = ['.', '.', '.', '+', '~', '~~', 'a', 'b', 'rc', 'Z', '', '+dfsg', '~git'];

function part(rand: () => number, minSegments: number): string {
  let s = rand() < 0.95 ? digits(rand) : pick(rand, ['a', 'v', 'Z']);
  const n = minSegments + Math.floor(rand() * 4);
  for (let k = 0; k < n; k++) s += pick(rand, SEPS) + (rand() < 0.8 ? digits(rand) : '');
  return s;
}

function randomVersion(rand: () => number): string {
  const epoch = rand() < 0.2 ? `${Math.floor(rand() * 3)}:` : '';
  const revision = rand() < 0.5 ? `-${part(rand, 0)}` : '';
  return epoch + part(rand, 1) + revision;
}

function mutate(v: string, rand: () => number): string {
  const at = Math.floor(rand() * (v.length + 1));
  const ch = pick(rand, ['0', '1', '9', '~', '.', '+', 'a', 'z', 'A', '00']);
  switch (Math.floor(rand() * 4)) {
    case 0: return v.slice(0, at) + ch + v.slice(at); // insert
    case 1: return v.slice(0, at) + ch + v.slice(at + 1); // replace
    case 2: return v.slice(0, at) + v.slice(at + 1); // delete
    default: return v + ch; // append
  }
}
