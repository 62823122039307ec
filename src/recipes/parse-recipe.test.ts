import { test } from 'node:test';
import { USERINFO_PROBLEM } from '../config/credentials.ts';
import assert from 'node:assert/strict';
import { builtinDefaults, isArchiveUrl, isSafeRelativePath, parseRecipe, type RecipeDefaults } from './parse-recipe.ts';
import type { Diagnostic } from '../plan/spec.ts';
import { keyLines, lineOfKey } from './toml-key-lines.ts';
import { MAX_PACKAGE_NAME_LENGTH } from './package-name.ts';

const FILE = '/tree/foo/recipe.toml';
const SHA = 'a'.repeat(64);

/**
 * A recipe for folder "foo" built from key → TOML value maps; `null` removes a key.
 * Top-level keys, then `[[sources]]` tables, then `[build]`.
 */
function recipe(o: {
  top?: Record<string, string | null>;
  build?: Record<string, string | null> | null;
  sources?: readonly Record<string, string>[];
}): string {
  const top: Record<string, string | null> = { name: '"foo"', version: '"1.0"', summary: '"a test package"', license: '"MIT"', ...o.top };
  const build: Record<string, string | null> | null = o.build === null ? null : { script: '"make install"', ...o.build };
  const lines: string[] = [];
  for (const [k, v] of Object.entries(top)) if (v !== null) lines.push(`${k} = ${v}`);
  for (const s of o.sources ?? []) {
    lines.push('', '[[sources]]');
    for (const [k, v] of Object.entries(s)) lines.push(`${k} = ${v}`);
  }
  if (build !== null) {
    lines.push('', '[build]');
    for (const [k, v] of Object.entries(build)) if (v !== null) lines.push(`${JSON.stringify(k)} = ${v}`);
  }
  return `${lines.join('\n')}\n`;
}

function diagnosticsOf(text: string, defaults?: RecipeDefaults): Diagnostic[] {
  const r = parseRecipe(text, { file: FILE, folderName: 'foo', ...(defaults === undefined ? {} : { defaults }) });
  return r.ok ? [] : [...r.diagnostics];
}

/** "key: message" lines (or just "message"), the way the CLI prints them after the file. */
function lines(diags: readonly Diagnostic[]): string[] {
  for (const d of diags) assert.equal(d.file, FILE);
  return diags.map((d) => (d.key === undefined ? d.message : `${d.key}: ${d.message}`));
}

test('a minimal recipe parses, with the built-in defaults', () => {
  const r = parseRecipe(recipe({}), { file: FILE, folderName: 'foo' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.draft, {
    name: 'foo',
    version: '1.0',
    release: 1,
    summary: 'a test package',
    license: 'MIT',
    archs: ['any'],
    buildDepends: [],
    depends: [],
    provides: [],
    sources: [],
    script: 'make install',
    scriptFile: undefined,
    cpus: 1,
    memoryBytes: 512 * 1024 * 1024,
    timeoutMs: undefined,
    silentTimeoutMs: 2 * 60 * 60 * 1000,
    skipChecks: [],
    env: undefined,
  });
});

test('a full recipe: relations, provides, sources with their default strip, build settings', () => {
  const text = recipe({
    top: {
      release: '3',
      archs: '["amd64", "arm64"]',
      'build-depends': '["zlib (>= 1.2.11)", "libssl (>= 3) | libressl", "nasm [amd64]"]',
      depends: '["zlib"]',
      provides: '["libfoo-dev (= 1.0)", "libfoo1"]',
    },
    sources: [
      { url: '"https://dl.example/foo-1.0.tar.gz"', sha256: `"${SHA}"` },
      { url: '"mirror://debian/pool/f/foo.diff"', sha256: `"${SHA}"`, dest: '"patches"' },
      { url: '"file:fix.patch"' },
      { url: '"https://dl.example/data.tar.xz?x=1"', sha256: `"${SHA}"`, strip: '0' },
    ],
    build: { script: null, 'script-file': '"build.sh"', cpus: '4', memory: '"1.5G"', timeout: '"30m"', 'silent-timeout': '"90s"' },
  });
  const r = parseRecipe(text, { file: FILE, folderName: 'foo' });
  assert.ok(r.ok, JSON.stringify(r));
  const d = r.draft;
  assert.equal(d.release, 3);
  assert.deepEqual(d.archs, ['amd64', 'arm64']);
  assert.deepEqual(
    d.buildDepends.map((g) => g.map((x) => x.name)),
    [['zlib'], ['libssl', 'libressl'], ['nasm']],
  );
  assert.deepEqual(d.buildDepends[0]?.[0]?.constraint, { op: '>=', version: '1.2.11' });
  assert.deepEqual(d.depends.map((g) => g.map((x) => x.name)), [['zlib']]);
  assert.deepEqual(d.provides, [{ name: 'libfoo-dev', version: '1.0' }, { name: 'libfoo1' }]);
  assert.equal(d.env, undefined, 'the env is the tree\'s, not the recipe\'s');
  assert.deepEqual(d.sources, [
    { url: 'https://dl.example/foo-1.0.tar.gz', sha256: SHA, dest: '', strip: 1, localPath: undefined },
    { url: 'mirror://debian/pool/f/foo.diff', sha256: SHA, dest: 'patches', strip: 0, localPath: undefined },
    { url: 'file:fix.patch', sha256: undefined, dest: '', strip: 0, localPath: 'fix.patch' },
    { url: 'https://dl.example/data.tar.xz?x=1', sha256: SHA, dest: '', strip: 0, localPath: undefined },
  ]);
  assert.equal(d.script, undefined);
  assert.equal(d.scriptFile, 'build.sh');
  assert.equal(d.cpus, 4);
  assert.equal(d.memoryBytes, 1.5 * 1024 ** 3);
  assert.equal(d.timeoutMs, 30 * 60_000);
  assert.equal(d.silentTimeoutMs, 90_000);
});

test('defaults come from kiln.toml unless the recipe sets its own (the env always does)', () => {
  const defaults: RecipeDefaults = { cpus: 2, memoryBytes: 1024 ** 3, timeoutMs: 3_600_000, silentTimeoutMs: 1_200_000, env: 'trixie' };
  const inherit = parseRecipe(recipe({}), { file: FILE, folderName: 'foo', defaults });
  assert.ok(inherit.ok);
  assert.deepEqual(
    [inherit.draft.cpus, inherit.draft.memoryBytes, inherit.draft.timeoutMs, inherit.draft.silentTimeoutMs, inherit.draft.env],
    [2, 1024 ** 3, 3_600_000, 1_200_000, 'trixie'],
  );
  const own = parseRecipe(
    recipe({ build: { cpus: '1', memory: '268435456', timeout: '"5m"', 'silent-timeout': '"1m"' } }),
    { file: FILE, folderName: 'foo', defaults },
  );
  assert.ok(own.ok);
  assert.deepEqual(
    [own.draft.cpus, own.draft.memoryBytes, own.draft.timeoutMs, own.draft.silentTimeoutMs, own.draft.env],
    [1, 256 * 1024 ** 2, 300_000, 60_000, 'trixie'],
  );
  assert.equal(builtinDefaults.cpus, 1);
});

test('loop-timeout: the recipe\'s, else kiln.toml\'s, else none (kiln\'s default applies); "0" is off; a bad one names the key', () => {
  const parse = (build: Record<string, string>, loopTimeoutMs?: number) =>
    parseRecipe(recipe({ build }), { file: FILE, folderName: 'foo', defaults: { ...builtinDefaults, ...(loopTimeoutMs === undefined ? {} : { loopTimeoutMs }) } });
  const cases: Array<[Record<string, string>, number | undefined, number | undefined]> = [
    [{}, undefined, undefined],
    [{ 'loop-timeout': '"90s"' }, undefined, 90_000],
    [{ 'loop-timeout': '"0"' }, undefined, 0],
    [{ 'loop-timeout': '"0s"' }, 3_600_000, 0],
    [{}, 3_600_000, 3_600_000],
    [{ 'loop-timeout': '"1h"' }, 0, 3_600_000],
  ];
  for (const [build, inherited, want] of cases) {
    const r = parse(build, inherited);
    assert.ok(r.ok, JSON.stringify(build));
    assert.equal(r.draft.loopTimeoutMs, want, `${JSON.stringify(build)} with kiln.toml ${inherited}`);
  }
  const bad = parse({ 'loop-timeout': '"soon"' });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.diagnostics.map((d) => `${d.key}: ${d.message}`), ['build.loop-timeout: invalid duration "soon": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h", or "0" for no limit']);
});

// One problem per row; each row must produce exactly these diagnostics.
const oneProblem: { name: string; text: string; want: string[] }[] = [
  {
    name: 'bad TOML names line and column',
    text: 'name = "foo"\nversion = = "1"\n',
    want: ['invalid TOML: invalid value at line 2, column 11'],
  },
  { name: 'unknown top-level key', text: recipe({ top: { colour: '"red"' } }), want: ['unknown key "colour"'] },
  { name: 'unknown key in [build]', text: recipe({ build: { jobs: '4' } }), want: ['build: unknown key "jobs"'] },
  { name: 'another tool\'s key at the top (BitBake, RPM)', text: recipe({ top: { description: '"x"', summary: null, BuildRequires: '["zlib"]' } }), want: ['unknown key "description" (did you mean "summary"?)', 'unknown key "BuildRequires" (did you mean "build-depends"?)', 'summary: missing required key (expected a string)'] },
  {
    name: 'unknown key in [[sources]]',
    text: recipe({ sources: [{ url: '"file:a.patch"', sha: '"x"' }] }),
    want: ['sources[0]: unknown key "sha"'],
  },
  {
    name: 'two plain files copied to one $SRCDIR path (archives and another dest are fine)',
    text: recipe({ sources: [
      { url: `"https://h/p1/fix.patch"`, sha256: `"${'a'.repeat(64)}"` },
      { url: `"https://h/p2/fix.patch?x=1"`, sha256: `"${'b'.repeat(64)}"` },
      { url: `"file:fix.patch"`, dest: '"other"' },
      { url: `"https://h/a/src.tar.gz"`, sha256: `"${'c'.repeat(64)}"` },
      { url: `"https://h/b/src.tar.gz"`, sha256: `"${'d'.repeat(64)}"` },
    ] }),
    want: ['sources[1].dest: "https://h/p2/fix.patch?x=1" is copied to $SRCDIR/fix.patch, as sources[0] ("https://h/p1/fix.patch") is: the later would replace the earlier; give one of them a dest of its own'],
  },
  {
    name: 'a missing key of a table is said after the table\'s own lines (a misspelt script)',
    text: recipe({ build: { script: null, scirpt: '"make"' } }),
    want: ['build: unknown key "scirpt" (did you mean "script"?)', 'build: needs "script" or "script-file"'],
  },
  { name: 'missing summary', text: recipe({ top: { summary: null } }), want: ['summary: missing required key (expected a string)'] },
  { name: 'missing [build]', text: recipe({ build: null }), want: ['build: missing required key (expected a table)'] },
  { name: 'wrong type: license', text: recipe({ top: { license: '3' } }), want: ['license: expected a string, got the number 3 (write it in quotes: license = "3")'] },
  { name: 'a duration written as a bare number: quoted with a unit', text: recipe({ build: { timeout: '30' } }), want: ['build.timeout: expected a string, got the number 30 (a duration is written in quotes with its unit: timeout = "30m" for minutes, "30s" for seconds)'] },
  { name: 'wrong type: cpus', text: recipe({ build: { cpus: '"two"' } }), want: ['build.cpus: expected a whole number, got "two"'] },
  { name: 'a whole number in quotes: written without them', text: recipe({ build: { cpus: '"2"' } }), want: ['build.cpus: expected a whole number, got "2" (write it without quotes: 2)'] },
  { name: 'wrong type: archs', text: recipe({ top: { archs: '"amd64"' } }), want: ['archs: expected an array, got "amd64" (write it as a list: ["amd64"])'] },
  { name: 'a version written as a number: quote it, and no word of whole numbers', text: recipe({ top: { version: '1.2' } }), want: ['version: expected a string, got the number 1.2 (write it in quotes: version = "1.2")'] },
  { name: 'a version written as a float TOML reads as a whole number: said as written', text: recipe({ top: { version: '3.0  # the third' } }), want: ['version: expected a string, got the number 3.0 (write it in quotes: version = "3.0")'] },
  { name: 'a misspelt key: did you mean', text: recipe({ top: { sumary: '"x"' } }), want: ['unknown key "sumary" (did you mean "summary"?)'] },
  { name: 'a recipe choosing its env: where env goes instead', text: recipe({ top: { env: '"trixie-amd64"' } }), want: ["env: a recipe cannot choose its build environment: set env in the tree's kiln.toml, or pass --env, for the whole run"] },
  { name: 'env next to another unknown key: both said', text: recipe({ top: { env: '"x"', colour: '"red"' } }), want: ["env: a recipe cannot choose its build environment: set env in the tree's kiln.toml, or pass --env, for the whole run", 'unknown key "colour"'] },
  { name: 'a version that TOML turned into another number: said and quoted as written', text: recipe({ top: { version: '1.10' } }), want: ['version: expected a string, got the number 1.10 (write it in quotes: version = "1.10")'] },
  { name: 'a key in the wrong case: did you mean', text: recipe({ top: { Summary: '"x"', summary: null } }), want: ['unknown key "Summary" (did you mean "summary"?)', 'summary: missing required key (expected a string)'] },
  { name: 'a misspelt key in [build] and in a source', text: recipe({ build: { cpu: '2' }, sources: [{ url: '"file:a"', shaa256: '"x"' }] }), want: ['sources[0]: unknown key "shaa256" (did you mean "sha256"?)', 'build: unknown key "cpu" (did you mean "cpus"?)'] },
  { name: 'cpus = 0', text: recipe({ build: { cpus: '0' } }), want: ['build.cpus: must be greater than 0, got 0'] },
  { name: 'empty version', text: recipe({ top: { version: '""' } }), want: ['version: must not be empty'] },
  {
    name: 'bad name',
    text: recipe({ top: { name: '"Foo"' } }),
    want: ['name: "Foo" is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit)'],
  },
  {
    name: 'name differs from folder',
    text: recipe({ top: { name: '"bar"' } }),
    want: ['name: "bar" does not match its folder "foo": rename one so they are equal'],
  },
  {
    name: 'file: source leaving the folder',
    text: recipe({ sources: [{ url: '"file:../x"' }] }),
    want: ['sources[0].url: "file:../x" must name a file inside the recipe folder (file:NAME, relative, without "..")'],
  },
  {
    name: 'file: source with an absolute path',
    text: recipe({ sources: [{ url: '"file:/etc/passwd"' }] }),
    want: ['sources[0].url: "file:/etc/passwd" must name a file inside the recipe folder (file:NAME, relative, without "..")'],
  },
  {
    name: 'dest leaving $SRCDIR',
    text: recipe({ sources: [{ url: '"file:a.patch"', dest: '"../../x"' }] }),
    want: ['sources[0].dest: "../../x" leaves $SRCDIR: use a relative path without ".."'],
  },
  {
    name: 'dest going up through a sub-folder',
    text: recipe({ sources: [{ url: '"file:a.patch"', dest: '"a/../../x"' }] }),
    want: ['sources[0].dest: "a/../../x" leaves $SRCDIR: use a relative path without ".."'],
  },
  {
    name: 'dest with a ".." that comes back down: still refused, as the docs say',
    text: recipe({ sources: [{ url: '"file:a.patch"', dest: '"a/./x/../y"' }] }),
    want: ['sources[0].dest: "a/./x/../y" holds a ".." segment: use a relative path without ".."'],
  },
  {
    name: 'file: source through a sub-folder and back: refused',
    text: recipe({ sources: [{ url: '"file:sub/../a.txt"' }] }),
    want: ['sources[0].url: "file:sub/../a.txt" must name a file inside the recipe folder (file:NAME, relative, without "..")'],
  },
  {
    name: 'strip on a plain file: an error naming the source (a file is copied, never extracted)',
    text: recipe({ sources: [{ url: '"file:fix.patch"', strip: '1' }] }),
    want: ['sources[0].strip: "file:fix.patch" is not an archive (its name does not end in .tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2, .tbz, .tar.zst, .tzst, .tar.lz or .tar.lzma), so it is copied as it is and strip does nothing: remove strip, or name the archive with its suffix'],
  },
  {
    name: 'https source without sha256',
    text: recipe({ sources: [{ url: '"https://dl.example/x.tar.gz"' }] }),
    want: ['sources[0].sha256: missing: every https:// source needs its sha256 (`kiln fetch --makesum foo` fetches the file and writes its sha256 in)'],
  },
  {
    name: 'mirror source without sha256',
    text: recipe({ sources: [{ url: '"mirror://debian/pool/x.tar.gz"' }] }),
    want: ['sources[0].sha256: missing: every mirror:// source needs its sha256 (`kiln fetch --makesum foo` fetches the file and writes its sha256 in)'],
  },
  {
    name: 'sha256 that is not one',
    text: recipe({ sources: [{ url: '"https://dl.example/x.tar.gz"', sha256: '"abc"' }] }),
    want: ['sources[0].sha256: "abc" is not a sha256 (64 lowercase hex digits)'],
  },
  {
    name: 'unsupported scheme',
    text: recipe({ sources: [{ url: '"ftp://dl.example/x.tar.gz"', sha256: `"${SHA}"` }] }),
    want: ['sources[0].url: "ftp://dl.example/x.tar.gz" has an unsupported scheme: use file:, https://, http://, mirror://NAME/ or git+https://'],
  },
  {
    name: 'ignore says why in one line',
    text: recipe({ top: { ignore: '""' } }),
    want: ['ignore: must say in one line why the package is not built (e.g. "needs a GPU to build"), or be removed'],
  },
  {
    name: 'restricted says why in one line',
    text: recipe({ top: { restricted: '" "' } }),
    want: ['restricted: must say in one line why the package may not be redistributed (e.g. "license forbids redistribution"), or be removed'],
  },
  {
    name: 'restricted is a string (the reason), not true',
    text: recipe({ top: { restricted: 'true' } }),
    want: ['restricted: expected a string, got true (write it in quotes: "true")'],
  },
  {
    name: "pkgsrc's NO_BIN_ON_FTP is kiln's restricted",
    text: recipe({ top: { NO_BIN_ON_FTP: '"no redistribution"' } }),
    want: ['unknown key "NO_BIN_ON_FTP" (did you mean "restricted"?)'],
  },
  {
    name: '[sources] written where [[sources]] was meant',
    text: 'name = "foo"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n\n[sources]\nurl = "file:a.tar.gz"\n\n[build]\nscript = "true"\n',
    want: ['sources: expected an array, got a table (an array of tables is written [[sources]], once per item: [sources] makes one table)'],
  },
  {
    name: 'skip-checks names only checks there are',
    text: recipe({ build: { 'skip-checks': '["arch", "lint", "hierachy"]' } }),
    want: [
      'build.skip-checks[1]: "lint" is not a check kiln has: the checks are "arch", "symlinks", "buildpaths", "hierarchy", "permissions", "memory"',
      'build.skip-checks[2]: "hierachy" is not a check kiln has (did you mean "hierarchy"?): the checks are "arch", "symlinks", "buildpaths", "hierarchy", "permissions", "memory"',
    ],
  },
  {
    name: 'a password in a source url: refused without repeating it',
    text: recipe({ sources: [{ url: '"https://me:hunter2@dl.example/x.tar.gz"', sha256: `"${SHA}"` }] }),
    want: [`sources[0].url: ${USERINFO_PROBLEM}`],
  },
  {
    name: 'mirror url without a path',
    text: recipe({ sources: [{ url: '"mirror://debian"', sha256: `"${SHA}"` }] }),
    want: ['sources[0].url: "mirror://debian" must look like mirror://NAME/path (NAME a mirror of kiln.toml\'s [mirrors], or debian; blanks written %20)'],
  },
  {
    name: 'a value pasted by mistake is not repeated whole',
    text: recipe({ build: { cpus: `"${'x'.repeat(5000)}"` } }),
    want: [`build.cpus: expected a whole number, got "${'x'.repeat(60)}"… (5000 characters)`],
  },
  {
    name: 'a known scheme written in capitals, or with one slash, is said so, not "unsupported"',
    text: recipe({ sources: [{ url: '"HTTPS://dl.example/x.tar.gz"', sha256: `"${SHA}"` }, { url: '"https:/dl.example/y.tar.gz"', sha256: `"${SHA}"` }, { url: '"mirror:///x.tar.gz"', sha256: `"${SHA}"` }] }),
    want: [
      'sources[0].url: "HTTPS://dl.example/x.tar.gz": write the scheme in lowercase (https:)',
      'sources[1].url: "https:/dl.example/y.tar.gz" must start with https:// (two slashes)',
      'sources[2].url: "mirror:///x.tar.gz" must look like mirror://NAME/path (NAME a mirror of kiln.toml\'s [mirrors], or debian; blanks written %20)',
    ],
  },
  {
    name: 'bad relation text',
    text: recipe({ top: { 'build-depends': '["zlib (>= 1.2"]' } }),
    want: ['build-depends[0]: "zlib (>= 1.2": missing ")" after version "1.2"'],
  },
  {
    name: 'bad relation operator in depends',
    text: recipe({ top: { depends: '["zlib", "zlib (=> 1.2)"]' } }),
    want: ['depends[1]: "zlib (=> 1.2)": unknown relation operator "=>" (use one of << <= = >= >>)'],
  },
  {
    name: 'several relations in one item',
    text: recipe({ top: { 'build-depends': '["zlib, libbar"]' } }),
    want: ['build-depends[0]: "zlib, libbar" holds several relations: give each its own array item'],
  },
  {
    name: 'empty alternative',
    text: recipe({ top: { 'build-depends': '["zlib |"]' } }),
    want: ['build-depends[0]: "zlib |": empty alternative (nothing between "|" and its neighbour)'],
  },
  {
    name: 'versioned provides other than =',
    text: recipe({ top: { provides: '["libfoo-dev (>= 1.6)"]' } }),
    want: ['provides[0]: "libfoo-dev (>= 1.6)": only "=" is allowed in Provides, not ">="'],
  },
  {
    name: 'any mixed with an arch',
    text: recipe({ top: { archs: '["any", "amd64"]' } }),
    want: ['archs: "any" and "all" stand alone: use ["any"], ["all"] or a list of arch names'],
  },
  {
    name: 'bad arch name',
    text: recipe({ top: { archs: '["AMD64"]' } }),
    want: ['archs[0]: "AMD64" is not a Debian architecture name (did you mean "amd64"?): use "any", "all", or names of dpkg-architecture -L such as amd64, arm64'],
  },
  {
    name: 'arch names dpkg does not know, with the nearest when there is one',
    text: recipe({ top: { archs: '["amd65", "x86-64", "arm64", "zzzz"]' } }),
    want: [
      'archs[0]: "amd65" is not a Debian architecture name (did you mean "amd64"?): use "any", "all", or names of dpkg-architecture -L such as amd64, arm64',
      'archs[1]: "x86-64" is not a Debian architecture name (did you mean "amd64"?): use "any", "all", or names of dpkg-architecture -L such as amd64, arm64',
      'archs[3]: "zzzz" is not a Debian architecture name: use "any", "all", or names of dpkg-architecture -L such as amd64, arm64',
    ],
  },
  {
    name: 'an arch only other systems call so (i686), which would drop the package from every plan',
    text: recipe({ top: { archs: '["i686"]' } }),
    want: ['archs[0]: "i686" is not a Debian architecture name (did you mean "i386"?): use "any", "all", or names of dpkg-architecture -L such as amd64, arm64'],
  },
  {
    name: 'version not starting with a digit',
    text: recipe({ top: { version: '"abc"' } }),
    want: ['version: "abc" is not a valid version: the upstream version must start with a digit (deb-version(7)), e.g. 1.0'],
  },
  {
    name: 'upstream version after an epoch not starting with a digit',
    text: recipe({ top: { version: '"2:v1.0"' } }),
    want: ['version: "2:v1.0" is not a valid version: the upstream version must start with a digit (deb-version(7)), e.g. 1.0'],
  },
  {
    name: 'a colon other than the epoch\'s',
    text: recipe({ top: { version: '"1:2:3"' } }),
    want: ['version: "1:2:3" is not a valid version: ":" may appear only once, after the epoch (N:)'],
  },
  {
    name: 'a character outside [A-Za-z0-9.+~-]',
    text: recipe({ top: { version: '"1.0_rc1"' } }),
    want: ['version: "1.0_rc1" is not a valid version: invalid character "_" in version'],
  },
  {
    name: 'version with a leading space',
    text: recipe({ top: { version: '" 1.0"' } }),
    want: ['version: " 1.0" is not a valid version: version string has embedded spaces'],
  },
  {
    name: 'a bad epoch',
    text: recipe({ top: { version: '"a:1.0"' } }),
    want: ['version: "a:1.0" is not a valid version: epoch in version is not a number'],
  },
  {
    name: 'both script and script-file',
    text: recipe({ build: { 'script-file': '"build.sh"' } }),
    want: ['build: has both "script" and "script-file": keep one'],
  },
  { name: 'neither script nor script-file', text: recipe({ build: { script: null } }), want: ['build: needs "script" or "script-file"'] },
  {
    name: 'script-file outside the folder',
    text: recipe({ build: { script: null, 'script-file': '"../build.sh"' } }),
    want: ['build.script-file: "../build.sh" must be a file inside the recipe folder (relative, without "..")'],
  },
  { name: 'memory not a size', text: recipe({ build: { memory: '"lots"' } }), want: ['build.memory: invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"'] },
  { name: 'memory = 0', text: recipe({ build: { memory: '0' } }), want: ['build.memory: must be greater than 0, got 0'] },
  { name: 'memory = "0"', text: recipe({ build: { memory: '"0M"' } }), want: ['build.memory: must be greater than 0, got "0M"'] },
  {
    name: 'timeout not a duration',
    text: recipe({ build: { timeout: '"30 minutes"' } }),
    want: ['build.timeout: invalid duration "30 minutes": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"'],
  },
  { name: 'timeout = "0s"', text: recipe({ build: { timeout: '"0s"' } }), want: ['build.timeout: must be greater than 0, got "0s"'] },
  {
    name: 'silent-timeout not a duration',
    text: recipe({ build: { 'silent-timeout': '"soon"' } }),
    want: ['build.silent-timeout: invalid duration "soon": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"'],
  },
  // What the bad-input sweep found accepted without a word.
  {
    name: 'a provided version dpkg-deb refuses',
    text: recipe({ top: { provides: '["foo (= abc)"]' } }),
    want: ['provides[0]: "foo (= abc)": invalid version "abc": the upstream version must start with a digit (deb-version(7)), e.g. 1.0'],
  },
  { name: 'an empty build-depends item', text: recipe({ top: { 'build-depends': '[""]' } }), want: ['build-depends[0]: is empty: name a package (e.g. "zlib" or "zlib (>= 1.2)"), or remove the item'] },
  { name: 'an empty provides item', text: recipe({ top: { provides: '[" "]' } }), want: ['provides[0]: is empty: name a package this one answers to, or remove the item'] },
  {
    name: 'an unknown arch in an arch restriction',
    text: recipe({ top: { 'build-depends': '["hello [nonsense]"]' } }),
    want: ['build-depends[0]: "hello [nonsense]": "nonsense" in the architecture list is not a Debian architecture name or wildcard: use names such as amd64, any-arm64 or linux-any, each optionally with "!" before it'],
  },
  {
    name: 'a misspelt negated arch in an arch restriction',
    text: recipe({ top: { depends: '["hello [!amd65]"]' } }),
    want: ['depends[0]: "hello [!amd65]": "amd65" in the architecture list is not a Debian architecture name or wildcard (did you mean "amd64"?): use names such as amd64, any-arm64 or linux-any, each optionally with "!" before it'],
  },
  {
    name: 'an arch qualifier that is none',
    text: recipe({ top: { 'build-depends': '["hello:foo"]' } }),
    want: ['build-depends[0]: "hello:foo": ":foo" is not an architecture qualifier: use :any, :native or an arch name such as :amd64'],
  },
  {
    name: 'a relation version dpkg-deb refuses',
    text: recipe({ top: { 'build-depends': '["hello (>= v1)"]' } }),
    want: ['build-depends[0]: "hello (>= v1)": invalid version "v1": the upstream version must start with a digit (deb-version(7)), e.g. 1.0'],
  },
  { name: 'an empty script', text: recipe({ build: { script: '" "' } }), want: ['build.script: is empty: write the build commands (e.g. "make install DESTDIR=$DESTDIR"), or use "true" for a package with no files'] },
  { name: 'a summary of two lines', text: recipe({ top: { summary: '"one\\ntwo"' } }), want: ['summary: must be one line (it holds a line break): a short description of what the package is'] },
  { name: 'an empty summary', text: recipe({ top: { summary: '""' } }), want: ['summary: must not be empty: one line saying what the package is'] },
  { name: 'an empty license', text: recipe({ top: { license: '""' } }), want: ['license: must not be empty: name the license, e.g. "MIT" or an SPDX expression such as "GPL-2.0-or-later"'] },
  {
    name: 'memory = 1 (bytes)',
    text: recipe({ build: { memory: '1' } }),
    want: ['build.memory: 1 is 1 byte (a size without a unit counts bytes), less than the least a build may ask for, 1M: use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"'],
  },
  {
    name: 'memory = "1.5" (bytes)',
    text: recipe({ build: { memory: '"1.5"' } }),
    want: ['build.memory: "1.5" is 1 byte (a size without a unit counts bytes), less than the least a build may ask for, 1M: use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"'],
  },
  {
    name: 'memory = "64K"',
    text: recipe({ build: { memory: '"64K"' } }),
    want: ['build.memory: "64K" is 65536 bytes, less than the least a build may ask for, 1M: use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"'],
  },
  {
    name: 'an https url without a host',
    text: recipe({ sources: [{ url: '"https://"', sha256: `"${SHA}"` }] }),
    want: ['sources[0].url: "https://" is not a valid URL: write it as https://HOST/path'],
  },
  {
    name: 'a url with a space',
    text: recipe({ sources: [{ url: '"https://example.org/a b.tar.gz"', sha256: `"${SHA}"` }] }),
    want: ['sources[0].url: "https://example.org/a b.tar.gz" holds a space or other blank: write it as %20'],
  },
];

test('arch restrictions and qualifiers dpkg knows are accepted: names, wildcards, negations, any, native', () => {
  const text = recipe({ top: { 'build-depends': '["a [linux-any]", "b [!amd64 !riscv64]", "c [any-arm64]", "d:any", "e:native", "f:amd64", "g [kfreebsd-any] <!nocheck>"]', provides: '["h (= 1:2.0~rc1)"]' }, build: { memory: '"1M"' } });
  assert.deepEqual(lines(diagnosticsOf(text)), []);
});

for (const row of oneProblem) {
  test(`diagnostic: ${row.name}`, () => {
    assert.deepEqual(lines(diagnosticsOf(row.text)), row.want);
  });
}

const REV = '0123456789abcdef0123456789abcdef01234567';

test('a git source: its url and rev kept, no sha256, strip 0 by default, dest and strip as for archives', () => {
  const rows: Array<[Record<string, string>, { url: string; rev: string; dest: string; strip: number }]> = [
    [{ url: '"git+https://git.example.org/repo.git"', rev: `"${REV}"` }, { url: 'git+https://git.example.org/repo.git', rev: REV, dest: '', strip: 0 }],
    [{ url: '"git+http://git.example.org/r"', rev: `"${REV}"`, dest: '"vendor/r"', strip: '1' }, { url: 'git+http://git.example.org/r', rev: REV, dest: 'vendor/r', strip: 1 }],
    [{ url: '"git+file:///srv/git/repo.git"', rev: `"${REV}"` }, { url: 'git+file:///srv/git/repo.git', rev: REV, dest: '', strip: 0 }],
    [{ url: '"git+mirror://gits/repo.tar.gz"', rev: `"${REV}"` }, { url: 'git+mirror://gits/repo.tar.gz', rev: REV, dest: '', strip: 0 }],
  ];
  for (const [source, want] of rows) {
    const r = parseRecipe(recipe({ sources: [source] }), { file: FILE, folderName: 'foo' });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.draft.sources, [{ ...want, sha256: undefined, localPath: undefined }], source['url']);
  }
});

const gitProblems: Array<[string, Record<string, string>, string[]]> = [
  ['no rev', { url: '"git+https://git.example.org/repo.git"' }, ['sources[0].rev: missing: a git source needs rev = "<commit id>" (40 hex digits; `git ls-remote https://git.example.org/repo.git HEAD` prints the commit of the default branch)']],
  ['a branch name', { url: '"git+https://git.example.org/repo.git"', rev: '"main"' }, ['sources[0].rev: "main" is not a commit id: pin the commit (40 hex digits), not a branch or tag, so the source cannot change under the recipe; `git ls-remote https://git.example.org/repo.git REF` prints the commit a branch or tag names']],
  ['a tag name', { url: '"git+https://git.example.org/repo.git"', rev: '"v1.0"' }, ['sources[0].rev: "v1.0" is not a commit id: pin the commit (40 hex digits), not a branch or tag, so the source cannot change under the recipe; `git ls-remote https://git.example.org/repo.git REF` prints the commit a branch or tag names']],
  ['an abbreviated commit', { url: '"git+https://git.example.org/repo.git"', rev: '"0123456"' }, ['sources[0].rev: "0123456" is an abbreviated commit id: write all 40 hex digits (`git ls-remote https://git.example.org/repo.git REF` prints the commit a branch or tag names)']],
  ['an uppercase commit', { url: '"git+https://git.example.org/repo.git"', rev: `"${REV.toUpperCase()}"` }, [`sources[0].rev: "${REV.toUpperCase()}" must be written in lowercase`]],
  ['a sha256 on a git source', { url: '"git+https://git.example.org/repo.git"', rev: `"${REV}"`, sha256: `"${SHA}"` }, ['sources[0].sha256: a git source takes no sha256: its rev (the commit id) pins the content; remove sha256']],
  ['a rev on a tarball', { url: '"https://example.org/a.tar.gz"', sha256: `"${SHA}"`, rev: `"${REV}"` }, ['sources[0].rev: only a git source (url = "git+https://HOST/REPO.git") takes a rev: remove it']],
  ['git+ssh', { url: '"git+ssh://git.example.org/repo.git"', rev: `"${REV}"` }, ['sources[0].url: "git+ssh://git.example.org/repo.git" has an unsupported scheme: use git+https://, git+http://, git+file:/// or git+mirror://NAME/']],
  ['a relative git+file: path', { url: '"git+file:repo"', rev: `"${REV}"` }, ['sources[0].url: "git+file:repo" must name a repository by its absolute path: git+file:///PATH (three slashes, no "..", spaces as %20)']],
  ['git+file: with ..', { url: '"git+file:///srv/../etc"', rev: `"${REV}"` }, ['sources[0].url: "git+file:///srv/../etc" must name a repository by its absolute path: git+file:///PATH (three slashes, no "..", spaces as %20)']],
  ['git+https without a host', { url: '"git+https://"', rev: `"${REV}"` }, ['sources[0].url: "https://" is not a valid URL: write it as https://HOST/path']],
  ['git+https with credentials', { url: '"git+https://me:pw@git.example.org/r.git"', rev: `"${REV}"` }, [`sources[0].url: ${USERINFO_PROBLEM}`]],
  ['git+mirror without a path', { url: '"git+mirror://gits"', rev: `"${REV}"` }, ['sources[0].url: "git+mirror://gits" must look like git+mirror://NAME/path']],
];

for (const [name, source, want] of gitProblems) {
  test(`git source diagnostic: ${name}`, () => {
    assert.deepEqual(lines(diagnosticsOf(recipe({ sources: [source] }))), want);
  });
}

test('every problem of a recipe is reported at once', () => {
  const text = recipe({
    top: {
      name: '"Foo"',
      license: '3',
      summary: null,
      colour: '"red"',
      'build-depends': '["zlib (>= 1.2", "ok"]',
    },
    sources: [
      { url: '"file:../x"' },
      { url: '"file:/etc/passwd"' },
      { url: '"https://dl.example/x.tar.gz"', dest: '"../../x"' },
    ],
    build: { 'script-file': '"b.sh"', memory: '"lots"', timeout: '"30 minutes"' },
  });
  // In file order: a missing key after the last line of its table.
  assert.deepEqual(lines(diagnosticsOf(text)), [
    'name: "Foo" is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit)',
    'license: expected a string, got the number 3 (write it in quotes: license = "3")',
    'unknown key "colour"',
    'build-depends[0]: "zlib (>= 1.2": missing ")" after version "1.2"',
    'summary: missing required key (expected a string)',
    'sources[0].url: "file:../x" must name a file inside the recipe folder (file:NAME, relative, without "..")',
    'sources[1].url: "file:/etc/passwd" must name a file inside the recipe folder (file:NAME, relative, without "..")',
    'sources[2].dest: "../../x" leaves $SRCDIR: use a relative path without ".."',
    'sources[2].sha256: missing: every https:// source needs its sha256 (`kiln fetch --makesum foo` fetches the file and writes its sha256 in)',
    'build: has both "script" and "script-file": keep one',
    'build.memory: invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"',
    'build.timeout: invalid duration "30 minutes": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"',
  ]);
});

test('a recipe\'s problems are listed in file order, by line, whatever check found them', () => {
  const text = [
    'name = "foo"',
    'version = 3.0',
    'summary = ""',
    'license = "MIT"',
    'archs = [',
    '  "x86_64",  # a comment',
    ']',
    '',
    '[build]',
    'cpus = 0',
    'script = """',
    'colour = "this line is the script, not a key"',
    '"""',
    'colour = 1',
    '',
    '[[sources]]',
    'url = "https://h.example/a.tar.gz"',
    'dest = "../x"',
  ].join('\n');
  assert.deepEqual(lines(diagnosticsOf(text)), [
    'version: expected a string, got the number 3.0 (write it in quotes: version = "3.0")',
    'summary: must not be empty: one line saying what the package is',
    'archs[0]: "x86_64" is not a Debian architecture name (did you mean "amd64"?): use "any", "all", or names of dpkg-architecture -L such as amd64, arm64',
    'build.cpus: must be greater than 0, got 0',
    'build: unknown key "colour"',
    'sources[0].dest: "../x" leaves $SRCDIR: use a relative path without ".."',
    'sources[0].sha256: missing: every https:// source needs its sha256 (`kiln fetch --makesum foo` fetches the file and writes its sha256 in)',
  ]);
});

test('keyLines: where each key is written, and its value as written', () => {
  const text = 'a = 1.0 # one\n"b c" = \'x # not a comment\'\n[t]\nd.e = [\n  1,\n  { f = 2 },\n]\ng = """\nh = 3\n"""\n[[s]]\ni = true\n[[s]]\n\'j\' = 1e3\n';
  const at = keyLines(text);
  assert.deepEqual([...at].map(([k, v]) => [k, v.line, v.written]), [
    ['a', 1, '1.0'],
    ['b c', 2, "'x # not a comment'"],
    ['t', 3, ''],
    ['t.d.e', 4, '[\n  1,\n  { f = 2 },\n]'],
    ['t.g', 8, '"""\nh = 3\n"""'],
    ['s[0]', 11, ''],
    ['s[0].i', 12, 'true'],
    ['s[1]', 13, ''],
    ['s[1].j', 14, '1e3'],
  ]);
  const rows: [string, number | undefined][] = [
    ['t.d.e', 4],
    ['t.d.e[1]', 4], // an item: its array's line
    ['s[1].k', 14.5], // missing: after its table's last line
    ['t.zz', 8.5],
    ['zz', 2.5], // missing at the top: after the last top-level key
    ['u.v', 2.5], // in a table not written: where that table would be missing
  ];
  for (const [key, want] of rows) assert.equal(lineOfKey(at, key), want, key);
});

test('every Debian arch name, "any" and "all" are accepted in archs', () => {
  for (const archs of ['["any"]', '["all"]', '["amd64", "arm64", "riscv64", "armhf", "x32", "hurd-amd64", "musl-linux-arm64", "kfreebsd-armhf"]']) {
    assert.deepEqual(lines(diagnosticsOf(recipe({ top: { archs } }))), [], archs);
  }
});

test('versions dpkg-deb builds are accepted, as written', () => {
  for (const version of ['0', '1.0', '1.0~rc1', '1.0+dfsg', '2:1.0', '0:0~git20240101', '1.0-1', '10.2.1-6+deb12u1', '1.0.0a']) {
    const r = parseRecipe(recipe({ top: { version: JSON.stringify(version) } }), { file: FILE, folderName: 'foo' });
    assert.ok(r.ok, `${version}: ${r.ok ? '' : lines(r.diagnostics).join('; ')}`);
    assert.equal(r.draft.version, version);
  }
});

test('isSafeRelativePath', () => {
  const rows: [string, boolean][] = [
    ['a', true],
    ['a/b.patch', true],
    ['./a', true],
    ['a/./b', true],
    ['a..b/c..', true],
    ['a/../b', false],
    ['a/./x/../y', false],
    ['..', false],
    ['../x', false],
    ['a/../../x', false],
    ['/etc/passwd', false],
    ['\\x', false],
    ['a\0b', false],
  ];
  for (const [p, want] of rows) assert.equal(isSafeRelativePath(p), want, p);
});

test('isArchiveUrl ignores query and fragment', () => {
  const rows: [string, boolean][] = [
    ['https://x.example/a.tar.gz', true],
    ['https://x.example/a.tgz?download=1', true],
    ['mirror://debian/a.orig.tar.xz#frag', true],
    ['https://x.example/a.tar.zst', true],
    ['file:fix.patch', false],
    ['https://x.example/a.zip', false],
    ['https://x.example/a.gz', false],
  ];
  for (const [u, want] of rows) assert.equal(isArchiveUrl(u), want, u);
});

test('a rejected recipe still tells its valid version, archs and provides (for its place in the plan)', () => {
  const bad = parseRecipe(recipe({ top: { archs: '["all"]', colour: '"red"' } }), { file: FILE, folderName: 'foo' });
  assert.ok(!bad.ok);
  assert.equal(bad.version, '1.0');
  assert.deepEqual(bad.archs, ['all']);
  const badArchs = parseRecipe(recipe({ top: { archs: '["amd65"]' } }), { file: FILE, folderName: 'foo' });
  assert.ok(!badArchs.ok);
  assert.equal(badArchs.archs, undefined);
  const withProvides = parseRecipe(recipe({ top: { provides: '["greet-api (= 1.0)"]', colour: '"red"' } }), { file: FILE, folderName: 'foo' });
  assert.ok(!withProvides.ok);
  assert.deepEqual(withProvides.provides, [{ name: 'greet-api', version: '1.0' }]);
  const badProvides = parseRecipe(recipe({ top: { provides: '["greet-api (>= 1.0)"]' } }), { file: FILE, folderName: 'foo' });
  assert.ok(!badProvides.ok);
  assert.equal(badProvides.provides, undefined);
});

test('several unknown keys: one line each, in the order of the file, each with its own "did you mean"', () => {
  const text = 'name = "foo"\nversion = "1"\nsumary = "x"\nlicense = "MIT"\ncolour = 1\n[build]\nscript = "true"\n';
  assert.deepEqual(lines(diagnosticsOf(text)).filter((l) => l.includes('unknown key')), [
    'unknown key "sumary" (did you mean "summary"?)',
    'unknown key "colour"',
  ]);
  // In [build] too, named by its table.
  const inBuild = 'name = "foo"\nversion = "1"\nsummary = "x"\nlicense = "MIT"\n[build]\nscript = "true"\ncpu = 2\ncolour = 1\n';
  assert.deepEqual(lines(diagnosticsOf(inBuild)), ['build: unknown key "cpu" (did you mean "cpus"?)', 'build: unknown key "colour"']);
});

test('[options]: a table per option or NAME = true|false, sorted by name, relations parsed', () => {
  const text = `${recipe({})}\n[options.ssl]\ndefault = true\nsummary = "TLS"\nbuild-depends = ["tls (>= 1.0)"]\ndepends = ["tls"]\n\n[options]\ndocs = false\nwith-gui = true\n`;
  const r = parseRecipe(text, { file: FILE, folderName: 'foo' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.draft.options?.map((o) => [o.name, o.default, o.summary, o.buildDepends.flat().map((x) => x.name), o.depends.flat().map((x) => x.name)]), [
    ['docs', false, undefined, [], []],
    ['ssl', true, 'TLS', ['tls'], ['tls']],
    ['with-gui', true, undefined, [], []],
  ]);
  // A table without default: off.
  const off = parseRecipe(`${recipe({})}\n[options.x11]\nsummary = "X11"\n`, { file: FILE, folderName: 'foo' });
  assert.ok(off.ok);
  assert.equal(off.draft.options?.[0]?.default, false);
  // None declared: no options key at all.
  const none = parseRecipe(recipe({}), { file: FILE, folderName: 'foo' });
  assert.ok(none.ok);
  assert.equal(none.draft.options, undefined);
});

test('[options]: every problem of an option is said with its key', () => {
  const text = `${recipe({})}\n[options.ssl]\ndefualt = true\nbuild-depends = ["tls (>= )"]\nsummary = ""\n\n[options.docs]\ndefault = "yes"\n\n[options]\nSSL = true\nlist = ["a"]\n`;
  assert.deepEqual(lines(diagnosticsOf(text)), [
    'options.ssl: unknown key "defualt" (did you mean "default"?)',
    'options.ssl.build-depends[0]: ' + lines(diagnosticsOf(`${recipe({ top: { 'build-depends': '["tls (>= )"]' } })}`))[0]!.replace(/^build-depends\[0\]: /, ''),
    'options.ssl.summary: must say in one line what the option does (e.g. "TLS support through OpenSSL"), or be removed',
    'options.docs.default: expected true or false, got "yes"',
    'options.SSL: "SSL" is not an option name: use lowercase letters, digits and -, starting with a letter (e.g. ssl, docs, with-gui)',
    'options.list: expected true, false or a table ([options.list] with default, summary, build-depends, depends), got an array',
  ]);
});

test('[flavours]: each [flavours.ID] a package named NAME-ID (or its name), with the options it pins; every problem said with its key', () => {
  const ok = parseRecipe(`${recipe({})}\n[options]\nssl = true\ndocs = false\n\n[flavours.nossl]\noptions = { ssl = false }\n\n[flavours.full]\nname = "foo-everything"\noptions = { docs = true }\n`, { file: FILE, folderName: 'foo' });
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.deepEqual(ok.draft.flavours, [
    { id: 'full', name: 'foo-everything', options: { docs: true } },
    { id: 'nossl', name: 'foo-nossl', options: { ssl: false } },
  ]);
  const bad = `${recipe({})}\n[options]\nssl = true\n\n[flavours.Big]\n\n[flavours.x]\nname = "foo"\n\n[flavours.y]\nname = "two"\noption = {}\n\n[flavours.z]\nname = "foo-q"\noptions = { ssll = false }\n\n[flavours.q]\n\n[flavours.v]\noptions = { ssl = "no" }\n\n[flavours.w]\nname = "Bad Name"\n`;
  assert.deepEqual(lines(diagnosticsOf(bad)), [
    'flavours.Big: "Big" is not a flavour name: use lowercase letters, digits and -, starting with a letter (e.g. py312, nossl)',
    'flavours.Big: "foo-Big" is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit): give the flavour a name = "…"',
    'flavours.x.name: "foo" is the recipe\'s own package: a flavour is another package, with a name of its own',
    'flavours.y: unknown key "option" (did you mean "options"?)',
    'flavours.z.options.ssll: the recipe declares no option "ssll" (its options: ssl)',
    'flavours.q: "foo-q" is the package of flavour z too: give each flavour a name of its own',
    'flavours.v.options.ssl: expected true or false, got "no"',
    'flavours.w.name: "Bad Name" is not a valid package name (lowercase letters, digits and + . -, starting with a letter or digit)',
  ]);
  assert.deepEqual(lines(diagnosticsOf(`${recipe({})}\n[flavours.q]\noptions = { ssl = true }\n`)), ['flavours.q.options.ssl: the recipe declares no option "ssl": declare it under [options] first']);
});

test('a package name longer than MAX_PACKAGE_NAME_LENGTH is a recipe error naming the limit; one at the limit is fine', () => {
  const at = 'a'.repeat(MAX_PACKAGE_NAME_LENGTH);
  const ok = parseRecipe(recipe({ top: { name: `"${at}"` } }), { file: FILE, folderName: at });
  assert.ok(ok.ok, JSON.stringify(ok));
  const long = 'a'.repeat(246);
  const bad = parseRecipe(recipe({ top: { name: `"${long}"` } }), { file: FILE, folderName: long });
  assert.ok(!bad.ok);
  assert.deepEqual(lines(bad.diagnostics), [
    `name: the package name (its folder's name) is 246 characters long: a package name may have at most ${MAX_PACKAGE_NAME_LENGTH} (its log and artifact file names are made from it and must fit the file system's 255 bytes): rename the folder and the name`,
  ]);
  // A flavour's package is named after the recipe: NAME-ID past the limit is the flavour's error.
  const flavoured = parseRecipe(`${recipe({ top: { name: `"${at}"` } })}\n[flavours.nossl]\n`, { file: FILE, folderName: at });
  assert.ok(!flavoured.ok);
  assert.deepEqual(lines(flavoured.diagnostics), [
    `flavours.nossl: the flavour's package name "${at}-nossl" is ${MAX_PACKAGE_NAME_LENGTH + 6} characters long: a package name may have at most ${MAX_PACKAGE_NAME_LENGTH} (its log and artifact file names are made from it and must fit the file system's 255 bytes): give the flavour a shorter name = "…"`,
  ]);
});

test('[flavours]: an undeclared option is told with the recipe\'s valid options: every declared name, not an invalid one', () => {
  const text = `${recipe({})}\n[options]\nBad_Name = true\ngui = true\nssl = true\nlevel = 3\n\n[flavours.a]\noptions = { zz = true, level = false }\n`;
  assert.deepEqual(lines(diagnosticsOf(text)).filter((l) => l.startsWith('flavours.')), [
    'flavours.a.options.zz: the recipe declares no option "zz" (its options: gui, level, ssl)',
  ]);
});

test('a recipe.toml with CRLF line ends: its multi-line script is read with LF line ends (bash would see each \\r)', () => {
  const text = 'name = "foo"\r\nversion = "1.0"\r\nsummary = "s"\r\nlicense = "MIT"\r\n[build]\r\nscript = """\r\nmkdir -p "$DESTDIR/x"\r\nmake\r\n"""\r\n';
  const r = parseRecipe(text, { file: FILE, folderName: 'foo' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.draft.script, 'mkdir -p "$DESTDIR/x"\nmake\n');
  // Saved with LF, a \r\n written as escapes is what the recipe means: kept.
  const escaped = parseRecipe('name = "foo"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "printf \'a\\r\\nb\' > x"\n', { file: FILE, folderName: 'foo' });
  assert.ok(escaped.ok, JSON.stringify(escaped));
  assert.equal(escaped.draft.script, "printf 'a\r\nb' > x");
});

test('restricted = "why": the package is marked, with its reason (pkgsrc\'s RESTRICTED); absent, it is not', () => {
  const r = parseRecipe(recipe({ top: { restricted: '"no redistribution"' } }), { file: FILE, folderName: 'foo' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.draft.restricted, 'no redistribution');
  const plain = parseRecipe(recipe({}), { file: FILE, folderName: 'foo' });
  assert.ok(plain.ok && !('restricted' in plain.draft));
});
