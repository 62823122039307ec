// junit.xml: the run's report as JUnit XML, the format CI systems (GitLab, Jenkins, GitHub
// test reporters) show as a list of test cases: one test case per package of the run
// (classname the arch, name the package). built and up-to-date pass (with their warnings
// as system-out); failed is a
// <failure> with the reason code, the cause and the log's last lines; broken (an invalid
// recipe, a dependency the tree cannot give: the run fails for it) is an <error> with its
// cause; skipped, cancelled and broken by an `ignore` are <skipped> with their cause. Each test --autopkgtest ran is a test case too
// (classname `autopkgtest.JOB`, name the test): FAIL a <failure>, SKIP a <skipped>. Pure:
// the log tail comes from the caller.

import type { AutopkgtestEntry, ReportPackage, RunReport } from './report.ts';

export function renderJunit(report: RunReport, logTail: (log: string) => string[]): string {
  const seconds = (ms: number | null): string => ((ms ?? 0) / 1000).toFixed(3);
  const tests = report.autopkgtest ?? [];
  // A Debian run whose apt repository could not be published: a failed case of its own.
  const publish = report.publishError === undefined ? [] : [`<testcase classname="publish" name="apt repository" time="0.000">\n<failure type="publish" message="${xml(firstLine(report.publishError))}">${xml(`the apt repository could not be published: ${report.publishError}`)}</failure>\n</testcase>`];
  const cases = [...report.packages.map((p) => testCase(p, logTail, seconds)), ...tests.map(autopkgtestCase), ...publish];
  const failures = report.packages.filter((p) => p.state === 'failed').length + tests.filter((t) => t.result === 'FAIL').length + publish.length;
  const errors = report.packages.filter(brokenForReal).length;
  const skipped = report.packages.filter((p) => p.state === 'skipped' || p.state === 'cancelled' || (p.state === 'broken' && !brokenForReal(p))).length + tests.filter((t) => t.result === 'SKIP').length;
  const total = report.end === null ? 0 : Date.parse(report.end) - Date.parse(report.start);
  const attrs = `name="kiln run ${xml(report.runId)}" tests="${report.packages.length + tests.length + publish.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(total)}" timestamp="${xml(report.start)}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ${attrs}>\n<testsuite ${attrs}>\n${cases.join('\n')}\n</testsuite>\n</testsuites>\n`;
}

function testCase(p: ReportPackage, logTail: (log: string) => string[], seconds: (ms: number | null) => string): string {
  const head = `<testcase classname="${xml(p.arch)}" name="${xml(p.name)} ${xml(p.version)}" time="${seconds(p.durationMs)}"`;
  switch (p.state) {
    case 'built':
    case 'up-to-date':
      // The output checks' and --retry's warnings, where a CI's test report shows them.
      return p.warnings === undefined || p.warnings.length === 0 ? `${head}/>` : `${head}>\n<system-out>${xml(p.warnings.map((w) => `warning: ${w}`).join('\n'))}</system-out>\n</testcase>`;
    case 'failed': {
      const tail = p.log === null ? [] : logTail(p.log);
      const body = [p.cause ?? 'failed', ...(p.log === null ? [] : ['', `log: ${p.log}`, ...tail])].join('\n');
      return `${head}>\n<failure type="${xml(p.reason ?? 'failed')}" message="${xml(firstLine(p.cause ?? 'failed'))}">${xml(body)}</failure>\n</testcase>`;
    }
    default: {
      const message = p.cause === null || p.cause === '' ? p.state : `${p.state}: ${firstLine(p.cause)}`;
      // Broken, and not by choice: what a CI must show red (the run fails for it), with every problem.
      if (brokenForReal(p)) return `${head}>\n<error type="broken" message="${xml(message)}">${xml(`${p.state}: ${p.cause ?? ''}`)}</error>\n</testcase>`;
      // A cause of several lines (an invalid recipe's problems, one per line) in full, as the element's text.
      const more = p.cause !== null && p.cause.includes('\n') ? `${xml(`${p.state}: ${p.cause}`)}</skipped>` : undefined;
      return `${head}>\n<skipped message="${xml(message)}"${more === undefined ? '/>' : `>${more}`}\n</testcase>`;
    }
  }
}

function autopkgtestCase(t: AutopkgtestEntry): string {
  const head = `<testcase classname="autopkgtest.${xml(t.job)}" name="${xml(t.test)}"`;
  if (t.result === 'FAIL') return `${head}>\n<failure type="autopkgtest" message="${xml(t.detail === '' ? 'FAIL' : t.detail)}">${xml(`autopkgtest: ${t.test} FAIL ${t.detail}`.trim())}</failure>\n</testcase>`;
  if (t.result === 'SKIP') return `${head}>\n<skipped message="${xml(t.detail === '' ? 'SKIP' : t.detail)}"/>\n</testcase>`;
  // PASS, and FLAKY (a flaky test's failure does not count): its word where a CI shows output.
  return t.result === 'PASS' && t.detail === '' ? `${head}/>` : `${head}>\n<system-out>${xml(`${t.result} ${t.detail}`.trim())}</system-out>\n</testcase>`;
}

/** A broken package that fails the run: not one an `ignore` keeps out of it. */
function brokenForReal(p: ReportPackage): boolean {
  return p.state === 'broken' && p.ignored !== true;
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return nl < 0 ? s : s.slice(0, nl);
}

/** Text and attribute values: the five XML entities, and no control characters XML 1.0 forbids. */
export function xml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
