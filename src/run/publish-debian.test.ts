// The terminal lines of a Debian run's checks (publish-debian.ts): which .debs --verify
// compares, and one line per .deb of a --twice comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { debsRefused, debsToVerify, olderLines, sameVersionLines, publishedText, stateAfterPublish, twiceLine, withPoolPaths } from './publish-debian.ts';

test('debsToVerify: -dbgsym debs are left out (Debian keeps them in its debug archive) and counted apart', () => {
  const r = debsToVerify(['/t/hello_2.10-3_amd64.deb', '/t/hello-dbgsym_2.10-3_amd64.deb', '/t/libfoo-dbgsym-tools_1_amd64.deb']);
  assert.deepEqual(r.checked, ['/t/hello_2.10-3_amd64.deb', '/t/libfoo-dbgsym-tools_1_amd64.deb']);
  assert.deepEqual(r.skipped, ['/t/hello-dbgsym_2.10-3_amd64.deb']);
});

test('twiceLine: reproducible, differs with what, and a second build that failed', () => {
  assert.equal(
    twiceLine('hello@amd64', { deb: 'hello_2.10-3_amd64.deb', status: 'reproducible', summary: 'reproducible: identical bytes (sha256 abc)', details: [] }),
    'twice hello_2.10-3_amd64.deb (hello@amd64): reproducible (bit-identical in a varied rebuild)',
  );
  assert.equal(
    twiceLine('hello@amd64', { deb: 'hello_2.10-3_amd64.deb', status: 'differs', summary: 'differs: data: 1 of 20 entries differ (./usr/bin/hello: content)', details: ['a', 'b'] }),
    'twice hello_2.10-3_amd64.deb (hello@amd64): differs: data: 1 of 20 entries differ (./usr/bin/hello: content) (2 detail line(s) in the job log and report)',
  );
  assert.equal(
    twiceLine('hello@amd64', { deb: '', status: 'error', summary: 'the second build failed (exit 2)', details: [] }),
    'twice hello@amd64: not compared: the second build failed (exit 2)',
  );
});

test('olderLines: a version going backwards is a warning naming both versions and what to do; the rest says nothing', () => {
  const pkg = (name: string, version: string, outcome: 'added' | 'unchanged' | 'older', previous?: string) =>
    ({ package: name, version, architecture: 'amd64', filename: `pool/${name}.deb`, from: `/x/${name}.deb`, outcome, ...(previous === undefined ? {} : { previous }) });
  const lines = olderLines({ suite: 'bookworm', packages: [pkg('kt', '0.9', 'older', '1.0'), pkg('kt-doc', '1.0', 'unchanged'), pkg('new', '1', 'added')] });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^warning: kt 0\.9 \(amd64\) is older than the 1\.0 suite bookworm lists: not published, and apt keeps installing 1\.0 .*kiln repo remove --suite bookworm kt/);
  assert.deepEqual(olderLines({ suite: 'bookworm', packages: [pkg('a', '1', 'added')] }), []);
  // The source of binaries left out (hello 2.10-3 built again after a published 2.10-3+b1) is held back with them, not warned of.
  const heldSource = { ...pkg('hello', '2.10-3', 'older', '2.10-3+b1'), architecture: 'source', heldBack: true as const };
  const held = olderLines({ suite: 'bookworm', packages: [pkg('hello', '2.10-3', 'older', '2.10-3+b1'), heldSource] });
  assert.equal(held.length, 1, held.join('\n'));
  assert.match(held[0]!, /^warning: hello 2\.10-3 \(amd64\) is older than the 2\.10-3\+b1 suite bookworm lists/);
});

test('sameVersionLines: a source replaced under its version is a warning; rebuilt binaries under theirs one note, with what to do', () => {
  const pkg = (name: string, architecture: string, outcome: 'replaced' | 'added', previous?: string) =>
    ({ package: name, version: '1.0', architecture, filename: `pool/${name}`, from: `/x/${name}`, outcome, ...(previous === undefined ? {} : { previous }) });
  const r = { suite: 'bookworm', packages: [pkg('kx', 'source', 'replaced', '1.0'), pkg('kx-bin', 'amd64', 'replaced', '1.0'), pkg('kx-new', 'amd64', 'replaced', '0.9'), pkg('kx-other', 'amd64', 'added')] };
  const lines = sameVersionLines(r, false);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^warning: the source kx 1\.0 is published again with other content, under the same version \(in a pool folder of its own\): what `apt-get source` gets then depends on the index a client has/);
  assert.equal(lines[1], '1 package(s) rebuilt and published again under the version they had (kx-bin 1.0 (amd64)): apt does not see them as upgrades; --binnmu auto gives each rebuild a version of its own');
  assert.match(sameVersionLines(r, true)[1]!, /\(--binnmu auto: arch-independent packages, never binNMUed, or a forced rebuild of the same inputs, keeping its number, that did not build the same bytes again\)$/);
  assert.deepEqual(sameVersionLines({ suite: 'bookworm', packages: [pkg('a', 'amd64', 'added')] }, false), []);
});

test('stateAfterPublish: a run that built all but could not publish some of it fails; others keep their state', () => {
  const rows: [string, number, string][] = [
    ['done', 0, 'done'],
    ['done', 1, 'failed'],
    ['failed', 2, 'failed'],
    ['cancelled', 1, 'cancelled'],
  ];
  for (const [state, refused, want] of rows) assert.equal(stateAfterPublish(state, refused), want, `${state} ${refused}`);
  // The repository could not be published at all (a read-only or full disk, a key kiln cannot use).
  const failedRows: [string, string][] = [['done', 'failed'], ['failed', 'failed'], ['cancelled', 'cancelled']];
  for (const [state, want] of failedRows) assert.equal(stateAfterPublish(state, 0, true), want, `${state}, publish failed`);
});

test('publishedText: nothing new is said so, not "published 0"', () => {
  const base = { repoDir: '/r', suite: 'bookworm', indexed: 8, refused: [] };
  assert.equal(publishedText({ ...base, packages: [{ package: 'a', version: '1', architecture: 'all', filename: 'x', from: 'y', outcome: 'unchanged' }] }), 'nothing new published to /r (suite bookworm, 8 package(s) listed; 1 unchanged)');
  assert.match(publishedText({ ...base, packages: [{ package: 'a', version: '2', architecture: 'all', filename: 'x', from: 'y', outcome: 'added' }] }), /^published 1 \.deb\(s\) to \/r /);
  assert.match(publishedText({ ...base, packages: [{ package: 'a', version: '2', architecture: 'all', filename: 'x', from: 'y', outcome: 'added' }, { package: 'a', version: '2', architecture: 'source', filename: 'a_2.dsc', from: 'z', outcome: 'replaced' }] }), /^published 1 \.deb\(s\) and 1 source\(s\) to \/r /);
});

test('withPoolPaths: --verify\'s lines name a .deb where it stays (the pool), not the temporary folder it was compared in', () => {
  const inPool = new Map([['/s/.publish-x/kiln-app_1.0_amd64.deb', '/s/repo/pool/main/k/kiln-app/kiln-app_1.0_amd64.deb']]);
  assert.equal(withPoolPaths('  b: /s/.publish-x/kiln-app_1.0_amd64.deb (100 bytes, sha256 ab)', inPool), '  b: /s/repo/pool/main/k/kiln-app/kiln-app_1.0_amd64.deb (100 bytes, sha256 ab)');
  assert.equal(withPoolPaths('  a: /cache/downloads/cd (90 bytes)', inPool), '  a: /cache/downloads/cd (90 bytes)');
});

test('debsRefused: the refused .debs fail a run, a refused source does not', () => {
  assert.equal(debsRefused([]), 0);
  assert.equal(debsRefused([{ from: '/t/hello_2.10-3_amd64.deb' }, { from: '/t/.sources/hello_2.10-3/hello_2.10-3.dsc' }]), 1);
  assert.equal(debsRefused([{ from: '/t/.sources/hello_2.10-3/hello_2.10-3.dsc' }]), 0);
});
