import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causeForTerminal, diagnosticsOf, failedDependencyOf, skippedCause } from './report-diagnostics.ts';
import { formatDiagnostic } from '../plan/spec.ts';

test('diagnosticsOf: the FILE: KEY: MESSAGE lines of an invalid recipe cause, [] otherwise', () => {
  const cases: [string | null, string[]][] = [
    [null, []],
    ['needs zlib, which is not in the tree', []],
    ['invalid recipe: /t/a/recipe.toml: unknown key "colour"', ['/t/a/recipe.toml: unknown key "colour"']],
    ['invalid recipe (2 problems):\n/t/a/recipe.toml: build.cpus: x\n/t/a/recipe.toml: build.memory: y', ['/t/a/recipe.toml: build.cpus: x', '/t/a/recipe.toml: build.memory: y']],
    // What needs a broken package quotes only the heading.
    ['needs a, which is broken: invalid recipe (2 problems)', []],
    ['invalid recipe tree\nsomething else', []],
    // A Debian source package's problems are headed "not buildable".
    ['not buildable: /s/kt.dsc: Build-Depends: kt-dep (>= 2) is not installable', ['/s/kt.dsc: Build-Depends: kt-dep (>= 2) is not installable']],
    ['not buildable (2 problems):\n/s/a.dsc: x\n/s/a.dsc: y', ['/s/a.dsc: x', '/s/a.dsc: y']],
    // A name in several package folders (categories).
    ['name in several folders: /t/net/zlib: the package name "zlib" is in 2 folders: net/zlib, zlib', ['/t/net/zlib: the package name "zlib" is in 2 folders: net/zlib, zlib']],
    ['name in several folders (2 problems):\n/t/net/zlib: x\n/t/net/zlib/recipe.toml: y', ['/t/net/zlib: x', '/t/net/zlib/recipe.toml: y']],
  ];
  for (const [cause, want] of cases) assert.deepEqual(diagnosticsOf(cause), want, String(cause));
});

test('causeForTerminal: problems one per indented line, paths under cwd relative; other causes as they are', () => {
  assert.equal(
    causeForTerminal('invalid recipe (2 problems):\n/t/a/recipe.toml: build.cpus: x\n/elsewhere/b.toml: y', '    ', '/t'),
    'invalid recipe (2 problems):\n    a/recipe.toml: build.cpus: x\n    /elsewhere/b.toml: y',
  );
  assert.equal(causeForTerminal('invalid recipe: /t/a/recipe.toml: k: m', '  ', '/t/'), 'invalid recipe (1 problem):\n  a/recipe.toml: k: m');
  assert.equal(causeForTerminal('needs b, which failed', '  ', '/t'), 'needs b, which failed');
  assert.equal(causeForTerminal('not buildable: /t/kt.dsc: Build-Depends: m', '  ', '/t'), 'not buildable (1 problem):\n  kt.dsc: Build-Depends: m');
  assert.equal(
    causeForTerminal('needs a, which is broken: invalid recipe: /t/a/recipe.toml: k: m', '  ', '/t'),
    'needs a, which is broken: invalid recipe: a/recipe.toml: k: m',
  );
  assert.equal(causeForTerminal('needs a: /tt/x and file:///t/y', '  ', '/t'), 'needs a: /tt/x and file:///t/y');
  assert.equal(causeForTerminal('needs a: /t/x', '  ', '/'), 'needs a: /t/x');
  assert.equal(causeForTerminal('a path escapes the tree /t/', '  ', '/t'), 'a path escapes the tree /t/');
});

test('a line break inside a message stays on its line: formatDiagnostic writes it \\n', () => {
  const line = formatDiagnostic({ file: '/t/x/recipe.toml', key: 'name', message: '"x\nrm" is not a valid name' });
  assert.equal(line, '/t/x/recipe.toml: name: "x\\nrm" is not a valid name');
  assert.deepEqual(diagnosticsOf(`invalid recipe: ${line}`), [line]);
});

test('skippedCause and failedDependencyOf: the failed package a skip names, read back; nothing from other causes', () => {
  assert.equal(skippedCause('libfoo', 'amd64'), 'needs libfoo (amd64), which failed');
  assert.deepEqual(failedDependencyOf(skippedCause('g++-12', 'all')), { name: 'g++-12', arch: 'all' });
  const others: (string | null)[] = [
    null,
    'not started: --fail-fast stopped the run after mid (amd64) failed',
    'needs a, which is broken: invalid recipe: /t/a/recipe.toml: k: m',
    'needs libfoo (amd64), which failed: and more',
    'needs two words (amd64), which failed',
  ];
  for (const c of others) assert.equal(failedDependencyOf(c), undefined, String(c));
});
