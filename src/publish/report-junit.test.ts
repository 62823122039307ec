import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderJunit, xml } from './report-junit.ts';
import type { RunReport } from './report.ts';

const report: RunReport = {
  runId: 'r1',
  start: '2026-01-01T00:00:00.000Z',
  end: '2026-01-01T00:01:00.000Z',
  counts: { built: 2, 'up-to-date': 1, failed: 1, skipped: 1, broken: 1, cancelled: 0 },
  packages: [
    { name: 'zlib', version: '1.3', arch: 'amd64', state: 'built', why: 'new', cause: null, durationMs: 1500, log: '/l/zlib.log', artifact: '/a' },
    { name: 'flaky', version: '1', arch: 'amd64', state: 'built', why: 'new', cause: null, durationMs: 10, log: '/l/flaky.log', artifact: '/a', warnings: ['retry: built on attempt 2, after attempt 1: the build script exited with status 1'] },
    { name: 'make', version: '4.4', arch: 'amd64', state: 'up-to-date', why: null, cause: null, durationMs: null, log: null, artifact: '/a' },
    { name: 'openssl', version: '3.0', arch: 'amd64', state: 'failed', why: 'new', cause: 'the build script exited with status 2', durationMs: 2000, log: '/l/openssl.log', artifact: null, reason: 'exit-status' },
    { name: 'curl', version: '8.0', arch: 'amd64', state: 'skipped', why: null, cause: 'needs openssl (amd64), which failed', durationMs: null, log: null, artifact: null, skippedBecause: ['openssl@amd64'] },
    { name: 'rust', version: '1.80', arch: 'amd64', state: 'broken', why: null, cause: 'needs llvm (>= 18) <x>, which is not in the tree\nmore', durationMs: null, log: null, artifact: null },
    { name: 'win32', version: '1', arch: 'amd64', state: 'broken', why: null, cause: 'ignored: Windows only', ignored: true, durationMs: null, log: null, artifact: null },
  ],
};

test('renderJunit: a test case per package; failures with reason, cause and log tail; skips with their cause; escaped', () => {
  const out = renderJunit(report, (log) => [`${log}: last line & "quoted"`]);
  assert.match(out, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="kiln run r1" tests="7" failures="1" errors="1" skipped="2" time="60\.000" timestamp="2026-01-01T00:00:00\.000Z">/);
  assert.match(out, /<testcase classname="amd64" name="zlib 1\.3" time="1\.500"\/>/);
  assert.match(out, /<testcase classname="amd64" name="make 4\.4" time="0\.000"\/>/);
  assert.match(out, /<testcase classname="amd64" name="openssl 3\.0" time="2\.000">\n<failure type="exit-status" message="the build script exited with status 2">the build script exited with status 2\n\nlog: \/l\/openssl\.log\n\/l\/openssl\.log: last line &amp; &quot;quoted&quot;<\/failure>\n<\/testcase>/);
  assert.match(out, /<testcase classname="amd64" name="curl 8\.0" time="0\.000">\n<skipped message="skipped: needs openssl \(amd64\), which failed"\/>/);
  // A cause of several lines (an invalid recipe's problems) is the element's text, whole.
  // Broken for real: an error a CI shows red, every problem in it; broken by an `ignore`: skipped.
  assert.match(out, /<error type="broken" message="broken: needs llvm \(&gt;= 18\) &lt;x&gt;, which is not in the tree">broken: needs llvm \(&gt;= 18\) &lt;x&gt;, which is not in the tree\nmore<\/error>\n<\/testcase>/);
  assert.match(out, /<testcase classname="amd64" name="win32 1" time="0\.000">\n<skipped message="broken: ignored: Windows only"\/>/);
  // Every tag closed: testsuites, testsuite, and a testcase per package.
  assert.equal(out.match(/<testcase /g)?.length, 7);
  assert.match(out, /<testcase classname="amd64" name="flaky 1" time="0\.010">\n<system-out>warning: retry: built on attempt 2, after attempt 1: the build script exited with status 1<\/system-out>\n<\/testcase>/);
  assert.match(out, /<\/testsuite>\n<\/testsuites>\n$/);
});

test('renderJunit: each test --autopkgtest ran is a test case of its own, a FAIL a failure and a SKIP a skip, counted in the suite', () => {
  const out = renderJunit({
    ...report,
    autopkgtest: [
      { job: 'zlib@amd64', test: 'build', result: 'PASS', detail: '' },
      { job: 'zlib@amd64', test: 'fails', result: 'FAIL', detail: 'non-zero exit status 1' },
      { job: 'zlib@amd64', test: 'breaks', result: 'SKIP', detail: 'Test restriction "breaks-testbed" requires testbed capability "revert-full-system"' },
      { job: 'zlib@amd64', test: 'smoke', result: 'PASS', detail: '(superficial)' },
    ],
  }, () => []);
  assert.match(out, /<testsuites name="kiln run r1" tests="11" failures="2" errors="1" skipped="3" /);
  assert.match(out, /<testcase classname="autopkgtest\.zlib@amd64" name="build"\/>/);
  assert.match(out, /<testcase classname="autopkgtest\.zlib@amd64" name="fails">\n<failure type="autopkgtest" message="non-zero exit status 1">autopkgtest: fails FAIL non-zero exit status 1<\/failure>\n<\/testcase>/);
  assert.match(out, /<testcase classname="autopkgtest\.zlib@amd64" name="breaks">\n<skipped message="Test restriction &quot;breaks-testbed&quot; requires testbed capability &quot;revert-full-system&quot;"\/>\n<\/testcase>/);
  assert.match(out, /<testcase classname="autopkgtest\.zlib@amd64" name="smoke">\n<system-out>PASS \(superficial\)<\/system-out>/);
  assert.equal(out.match(/<testcase /g)?.length, 11);
});

test('xml: entities and the control characters XML 1.0 forbids', () => {
  assert.equal(xml('a<b>&"\'\u0001\tc'), 'a&lt;b&gt;&amp;&quot;&apos;\ufffd\tc');
});

test('renderJunit: a Debian run whose apt repository could not be published has a failed test case for it, counted', () => {
  const out = renderJunit({ ...report, publishError: 'EROFS: read-only file system\nmore' }, () => []);
  assert.match(out, /<testsuites name="kiln run r1" tests="8" failures="2" /);
  assert.match(out, /<testcase classname="publish" name="apt repository" time="0\.000">\n<failure type="publish" message="EROFS: read-only file system">the apt repository could not be published: EROFS: read-only file system\nmore<\/failure>\n<\/testcase>/);
  assert.doesNotMatch(renderJunit(report, () => []), /classname="publish"/);
});
