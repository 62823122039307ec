import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { USERINFO_PROBLEM } from './credentials.ts';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import { join } from 'node:path';
import { parseTreeConfig } from './tree-config.ts';
import { emptyTreeConfig, loadTreeConfig } from './load-tree-config.ts';
import { builtinDefaults } from '../recipes/parse-recipe.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

const FILE = '/tree/kiln.toml';

function problems(text: string): string[] {
  const { diagnostics } = parseTreeConfig(text, FILE);
  for (const d of diagnostics) assert.equal(d.file, FILE);
  return diagnostics.map((d) => (d.key === undefined ? d.message : `${d.key}: ${d.message}`));
}

test('an empty kiln.toml gives the built-in defaults', () => {
  const { config, diagnostics } = parseTreeConfig('', FILE);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config, { file: FILE, env: undefined, sandbox: undefined, archs: undefined, defaults: builtinDefaults, mirrors: {} });
});

test('every key is read; mirrors lose their trailing slash; env becomes the recipes default env', () => {
  const { config, diagnostics } = parseTreeConfig(
    [
      'env = "bookworm"',
      'sandbox = "chroot"',
      'archs = ["amd64", "arm64"]',
      '[defaults]',
      'cpus = 2',
      'memory = "1G"',
      'timeout = "1h"',
      'silent-timeout = "20m"',
      '[mirrors]',
      'debian = "http://apt-cache.example/debian/"',
      'gnu = "https://ftp-mirror.example/gnu"',
      'local = "file:///srv/mirror//"',
    ].join('\n'),
    FILE,
  );
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config, {
    file: FILE,
    env: 'bookworm',
    sandbox: 'chroot',
    archs: ['amd64', 'arm64'],
    defaults: { cpus: 2, memoryBytes: 1024 ** 3, timeoutMs: 3_600_000, silentTimeoutMs: 1_200_000, env: 'bookworm' },
    mirrors: { debian: 'http://apt-cache.example/debian', gnu: 'https://ftp-mirror.example/gnu', local: 'file:///srv/mirror' },
  });
});

test('a number of bytes is a memory size too', () => {
  const { config, diagnostics } = parseTreeConfig('[defaults]\nmemory = 1048576\n', FILE);
  assert.deepEqual(diagnostics, []);
  assert.equal(config.defaults.memoryBytes, 1024 * 1024);
});

const rows: { name: string; text: string; want: string[] }[] = [
  { name: 'bad TOML, with line and column', text: 'env = = "x"\n', want: ['invalid TOML: invalid value at line 1, column 7'] },
  { name: 'unknown key', text: 'colour = "red"\n', want: ['unknown key "colour"'] },
  { name: 'a flag of kiln build written as a key', text: 'jobs = 4\nmin-free = "1G"\n', want: ['unknown keys "jobs", "min-free": --jobs, --min-free are flags of kiln build, not kiln.toml keys (a CI script or an alias gives them every run)'] },
  { name: 'unknown key in [defaults]', text: '[defaults]\njobs = 3\n', want: ['defaults: unknown key "jobs"'] },
  { name: 'wrong type of archs', text: 'archs = "amd64"\n', want: ['archs: expected an array, got "amd64" (write it as a list: ["amd64"])'] },
  { name: 'empty archs', text: 'archs = []\n', want: ['archs: must have at least 1 item(s)'] },
  {
    name: 'archs that are not Debian arch names, with the nearest when there is one',
    text: 'archs = ["amd64", "amd65", "any", "aarch64", "zzzz"]\n',
    want: [
      'archs[1]: "amd65" is not a Debian architecture name (did you mean "amd64"?): use names of dpkg-architecture -L such as amd64, arm64, riscv64',
      'archs[2]: "any" is for a recipe\'s archs: here name the arches a run builds for, e.g. ["amd64", "arm64"]',
      'archs[3]: "aarch64" is not a Debian architecture name (did you mean "arm64"?): use names of dpkg-architecture -L such as amd64, arm64, riscv64',
      'archs[4]: "zzzz" is not a Debian architecture name: use names of dpkg-architecture -L such as amd64, arm64, riscv64',
    ],
  },
  { name: 'cpus = 0', text: '[defaults]\ncpus = 0\n', want: ['defaults.cpus: must be greater than 0, got 0'] },
  { name: 'bad memory', text: '[defaults]\nmemory = "lots"\n', want: ['defaults.memory: invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"'] },
  { name: 'zero memory', text: '[defaults]\nmemory = "0K"\n', want: ['defaults.memory: must be greater than 0, got "0K"'] },
  { name: 'bad timeout', text: '[defaults]\ntimeout = "an hour"\n', want: ['defaults.timeout: invalid duration "an hour": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"'] },
  { name: 'memory without a unit is bytes: too little', text: '[defaults]\nmemory = 1\n', want: ['defaults.memory: 1 is 1 byte (a size without a unit counts bytes), less than the least a build may ask for, 1M: use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"'] },
  { name: 'a duration without a unit', text: '[defaults]\ntimeout = "5"\n', want: ['defaults.timeout: invalid duration "5": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"'] },
  { name: 'a negative duration', text: '[defaults]\nsilent-timeout = "-5m"\n', want: ['defaults.silent-timeout: invalid duration "-5m": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"'] },
  {
    name: 'env that is not an env name',
    text: 'env = "Bad Env!"\n',
    want: ['env: "Bad Env!" is not an env name: use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters, with {arch} standing for each target arch (e.g. "bookworm-{arch}")'],
  },
  { name: 'mirrors as a string, not a table', text: 'mirrors = "http://x"\n', want: ['mirrors: must be a table of NAME = "URL" (a [mirrors] section with lines such as debian = "http://HOST/debian"), got "http://x"'] },
  { name: 'sandbox not one of the kinds', text: 'sandbox = true\n', want: ['sandbox: expected one of auto, host, chroot, rootless, got true'] },
  { name: 'a key given twice is named', text: 'env = "a"\nenv = "b"\n', want: ['invalid TOML: trying to redefine an already defined table or value at line 2, column 1 ("env" is given twice: keep one)'] },
  { name: 'a table given twice is named', text: '[defaults]\ncpus = 1\n[defaults]\n', want: ['invalid TOML: trying to redefine an already defined table or value at line 3, column 2 ("defaults" is given twice: keep one)'] },
  { name: 'zero silent-timeout', text: '[defaults]\nsilent-timeout = "0m"\n', want: ['defaults.silent-timeout: must be greater than 0, got "0m"'] },
  {
    name: 'archs: an empty item does not hide the other items\' problems',
    text: 'archs = ["any", "amd64", "AMD64", ""]\n',
    want: [
      'archs[3]: must not be empty',
      'archs[0]: "any" is for a recipe\'s archs: here name the arches a run builds for, e.g. ["amd64", "arm64"]',
      'archs[2]: "AMD64" is not a Debian architecture name (did you mean "amd64"?): use names of dpkg-architecture -L such as amd64, arm64, riscv64',
    ],
  },
  {
    name: 'mirror that is not a URL',
    text: '[mirrors]\ndebian = "apt-cache.example/debian"\n',
    want: ['mirrors.debian: a mirror is a base URL starting with http://, https:// or file://'],
  },
  {
    name: 'mirror URLs that start right but would fail only at the first download',
    text: '[mirrors]\nc = "file://relative/dir"\ne = "http://exa mple/"\nf = "https://[::1"\ng = "file:///srv/m"\nh = "file://localhost/srv/m"\n',
    want: [
      'mirrors.c: "file://relative/dir" names the host "relative": a file mirror is an absolute folder, file:///PATH (three slashes)',
      'mirrors.e: "http://exa mple/" holds a space or other blank: write it as %20',
      'mirrors.f: "https://[::1" is not a valid URL: write it as https://HOST/path',
    ],
  },
  {
    name: 'mirror with a bad name',
    text: '[mirrors]\n"my mirror" = "http://m.example/"\n',
    want: ['mirrors.my mirror: "my mirror" is not a mirror name: use letters, digits, _ and -, starting with a letter or digit'],
  },
];

for (const row of rows) {
  test(`kiln.toml diagnostic: ${row.name}`, () => {
    assert.deepEqual(problems(row.text), row.want);
  });
}

test('every problem of kiln.toml is reported at once, in the order of the file', () => {
  assert.deepEqual(
    problems(['colour = 1', 'archs = []', '[defaults]', 'cpus = "two"', '[mirrors]', 'gnu = "ftp://x.example"'].join('\n')),
    [
      'unknown key "colour"',
      'archs: must have at least 1 item(s)',
      'defaults.cpus: expected a whole number, got "two"',
      'mirrors.gnu: a mirror is a base URL starting with http://, https:// or file://',
    ],
  );
  // A key the schema refuses does not hide the checks of the others.
  assert.deepEqual(problems(['archs = ["any", "x86_64"]', '[defaults]', 'memory = "lots"', '[mirrors]', 'debian = "ftp://x"'].join('\n')), [
    'archs[0]: "any" is for a recipe\'s archs: here name the arches a run builds for, e.g. ["amd64", "arm64"]',
    'archs[1]: "x86_64" is not a Debian architecture name (did you mean "amd64"?): use names of dpkg-architecture -L such as amd64, arm64, riscv64',
    'defaults.memory: invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"',
    'mirrors.debian: a mirror is a base URL starting with http://, https:// or file://',
  ]);
  // Values that parse but are wrong are reported together too.
  assert.deepEqual(problems('[defaults]\nmemory = "lots"\ntimeout = "x"\nsilent-timeout = "y"\n'), [
    'defaults.memory: invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"',
    'defaults.timeout: invalid duration "x": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"',
    'defaults.silent-timeout: invalid duration "y": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"',
  ]);
});

test('a type error in [defaults] does not hide the other keys of [defaults]', () => {
  const badMemory = 'defaults.memory: invalid size "lots": use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G"';
  assert.deepEqual(problems('[defaults]\ncpus = 0\nmemory = "lots"\n'), ['defaults.cpus: must be greater than 0, got 0', badMemory]);
  assert.deepEqual(problems('[defaults]\ncpus = "2"\nmemory = "lots"\n'), ['defaults.cpus: expected a whole number, got "2" (write it without quotes: 2)', badMemory]);
  assert.deepEqual(problems('[defaults]\nsilent-timeout = 3\ntimeout = "x"\njobs = 1\n'), [
    'defaults.silent-timeout: expected a string, got 3 (a duration is written in quotes with its unit: silent-timeout = "3m" for minutes, "3s" for seconds)',
    'defaults.timeout: invalid duration "x": use a number with ms, s, m, h, d or w, e.g. "30m" or "1.5h"',
    'defaults: unknown key "jobs"',
  ]);
  // Not a table: said once, nothing salvaged; the config is the empty one.
  assert.deepEqual(problems('defaults = 3\n'), ['defaults: expected a table, got 3']);
});

test('archs: every Debian arch name is taken, each once, in the order written', () => {
  const { config, diagnostics } = parseTreeConfig('archs = ["riscv64", "amd64", "riscv64", "hurd-amd64", "x32"]\n', FILE);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config.archs, ['riscv64', 'amd64', 'hurd-amd64', 'x32']);
});

test('loadTreeConfig: no kiln.toml is fine; a present one is read', async () => {
  await using dir = await tmpDir();
  const none = await loadTreeConfig(dir.path);
  assert.deepEqual(none, { config: { file: undefined, env: undefined, sandbox: undefined, archs: undefined, defaults: builtinDefaults, mirrors: {} }, diagnostics: [] });
  await writeFile(join(dir.path, 'kiln.toml'), 'archs = ["riscv64"]\n');
  const some = await loadTreeConfig(dir.path);
  assert.deepEqual(some.diagnostics, []);
  assert.equal(some.config.file, join(dir.path, 'kiln.toml'));
  assert.deepEqual(some.config.archs, ['riscv64']);
});

test('emptyTreeConfig (no zod, no TOML) is what the parser makes of an empty kiln.toml', () => {
  assert.deepEqual(emptyTreeConfig('(no tree)'), parseTreeConfig('', '(no tree)').config);
  assert.deepEqual(emptyTreeConfig(undefined).defaults, builtinDefaults);
});

test('a mirror with a user name and password in its url is refused without repeating them', () => {
  const got = problems('[mirrors]\nprivate = "https://me:hunter2@mirror.example/debian"\n');
  assert.deepEqual(got, [`mirrors.private: ${USERINFO_PROBLEM}`]);
  assert.ok(!got.join('\n').includes('hunter2'));
});

test('env may be a template with {arch}', () => {
  assert.deepEqual(problems('env = "bookworm-{arch}"\n'), []);
  assert.equal(parseTreeConfig('env = "bookworm-{arch}"\n', FILE).config.env, 'bookworm-{arch}');
});

test('kiln.toml that is a directory, a dangling symlink, a named pipe or not UTF-8 is config-invalid naming it (not an internal error, not a hang, not "no kiln.toml"); a tree that is a file is tree-not-found', async () => {
  await using dir = await tmpDir();
  const asDir = join(dir.path, 'd');
  await mkdir(join(asDir, 'kiln.toml'), { recursive: true });
  await assert.rejects(loadTreeConfig(asDir), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && e.message === `${join(asDir, 'kiln.toml')} is a directory, not a file`);
  const dangling = join(dir.path, 'l');
  await mkdir(dangling);
  await symlink(join(dir.path, 'nowhere.toml'), join(dangling, 'kiln.toml'));
  await assert.rejects(loadTreeConfig(dangling), (e: unknown) =>
    e instanceof KilnError && e.code === 'config-invalid' && e.message === `${join(dangling, 'kiln.toml')} is a symlink to "${join(dir.path, 'nowhere.toml')}", which does not exist` && /remove it/.test(e.hint ?? ''));
  const fifo = join(dir.path, 'f');
  await mkdir(fifo);
  assert.equal(spawnSync('mkfifo', [join(fifo, 'kiln.toml')]).status, 0);
  await assert.rejects(loadTreeConfig(fifo), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && e.message === `${join(fifo, 'kiln.toml')} is a named pipe (FIFO), not a regular file`);
  const latin1 = join(dir.path, 'u');
  await mkdir(latin1);
  await writeFile(join(latin1, 'kiln.toml'), Buffer.from('env = "caf\xe9"\n', 'latin1'));
  await assert.rejects(loadTreeConfig(latin1), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && e.message === `${join(latin1, 'kiln.toml')} is not valid UTF-8`);
  await writeFile(join(dir.path, 'file'), '');
  await assert.rejects(loadTreeConfig(join(dir.path, 'file')), (e: unknown) => e instanceof KilnError && e.code === 'tree-not-found');
  // No kiln.toml at all is still no kiln.toml.
  const none = join(dir.path, 'n');
  await mkdir(none);
  assert.deepEqual(await loadTreeConfig(none), { config: emptyTreeConfig(undefined), diagnostics: [] });
});

test('[hooks]: each event a list of shell commands, in order; absent without the table', () => {
  const { config, diagnostics } = parseTreeConfig('[hooks]\nrun-finished = ["./notify.sh", "echo done"]\njob-failed = ["./page.sh"]\n', FILE);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config.hooks, { runFinished: ['./notify.sh', 'echo done'], jobFailed: ['./page.sh'] });
  assert.deepEqual(parseTreeConfig('[hooks]\n', FILE).config.hooks, { runFinished: [], jobFailed: [] });
  assert.equal('hooks' in parseTreeConfig('env = "bookworm"\n', FILE).config, false);
});

const hookRows: { name: string; text: string; want: string[] }[] = [
  { name: 'a command, not a list', text: '[hooks]\nrun-finished = "./notify.sh"\n', want: ['hooks.run-finished: must be a list of shell commands, e.g. ["./notify.sh"] (each run with /bin/sh -c in the tree folder), got "./notify.sh"'] },
  { name: 'an empty command', text: '[hooks]\njob-failed = ["./a.sh", " "]\n', want: ['hooks.job-failed[1]: each hook is a shell command: a non-empty string such as "./notify.sh", got " "'] },
  { name: 'a number for a command', text: '[hooks]\njob-failed = [3]\n', want: ['hooks.job-failed[0]: each hook is a shell command: a non-empty string such as "./notify.sh", got 3'] },
  { name: 'an unknown event, with the nearest', text: '[hooks]\nrun-finshed = ["a"]\n', want: ['hooks: unknown key "run-finshed" (did you mean "run-finished"?): the events are run-finished and job-failed'] },
  { name: 'hooks not a table', text: 'hooks = "./notify.sh"\n', want: ['hooks: must be a table: a [hooks] section with run-finished = ["CMD", ...] and job-failed = ["CMD", ...], got "./notify.sh"'] },
];
for (const row of hookRows) {
  test(`kiln.toml diagnostic: [hooks] ${row.name}`, () => {
    assert.deepEqual(problems(row.text), row.want);
    assert.equal(parseTreeConfig(row.text, FILE).config.hooks, undefined);
  });
}

test('ccache and ccache-size: read when given, absent otherwise; a bad size names its key', () => {
  const on = parseTreeConfig('ccache = true\nccache-size = "10G"\n', FILE);
  assert.deepEqual(on.diagnostics, []);
  assert.equal(on.config.ccache, true);
  assert.equal(on.config.ccacheBytes, 10 * 1024 ** 3);
  assert.equal(parseTreeConfig('ccache = false\n', FILE).config.ccache, false);
  const none = parseTreeConfig('', FILE).config;
  assert.equal(none.ccache, undefined);
  assert.equal(none.ccacheBytes, undefined);
  assert.deepEqual(problems('ccache-size = "lots"\n'), ['ccache-size: "lots" is not a size of 1M or more: use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G" (ccache\'s own default is "5G")']);
  assert.deepEqual(problems('ccache-size = 1000\n'), ['ccache-size: 1000 is not a size of 1M or more: use a number with K, M, G or T (powers of 1024), e.g. "512M" or "2G" (ccache\'s own default is "5G")']);
  assert.equal(problems('ccache = "yes"\n').length, 1);
  assert.match(problems('ccache = "yes"\n')[0]!, /^ccache: /);
});

test('priority-boost: a list of names or globs, as written; absent without the key', () => {
  const { config, diagnostics } = parseTreeConfig('priority-boost = ["llvm*", "rust"]\n', FILE);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config.priorityBoost, ['llvm*', 'rust']);
  assert.deepEqual(parseTreeConfig('priority-boost = []\n', FILE).config.priorityBoost, []);
  assert.equal('priorityBoost' in parseTreeConfig('env = "bookworm"\n', FILE).config, false);
});

const boostRows: { name: string; text: string; want: string[] }[] = [
  { name: 'a name, not a list', text: 'priority-boost = "llvm"\n', want: ['priority-boost: must be a list of package names or globs, e.g. priority-boost = ["llvm*", "rust"], got "llvm"'] },
  { name: 'a table', text: '[priority-boost]\nllvm = 1\n', want: ['priority-boost: must be a list of package names or globs, e.g. priority-boost = ["llvm*", "rust"], got {"llvm":1}'] },
  { name: 'an empty name', text: 'priority-boost = ["llvm", ""]\n', want: ['priority-boost[1]: each is a package name or glob: a non-empty string such as "llvm*", got ""'] },
  { name: 'a number', text: 'priority-boost = [3]\n', want: ['priority-boost[0]: each is a package name or glob: a non-empty string such as "llvm*", got 3'] },
  { name: 'a glob with a reversed range', text: 'priority-boost = ["lib[z-a]*"]\n', want: ['priority-boost[0]: the glob "lib[z-a]*" has a reversed range z-a: write the range low to high: a-z'] },
];
for (const row of boostRows) {
  test(`kiln.toml diagnostic: priority-boost ${row.name}`, () => {
    assert.deepEqual(problems(row.text), row.want);
  });
}

test('[substitutes]: the URL as --substitute takes it, key and token-file relative to kiln.toml', () => {
  const cases: { what: string; text: string; want: unknown }[] = [
    { what: 'all three', text: '[substitutes]\nurl = "https://cache.example/kiln/"\nkey = "keys/cache.asc"\ntoken-file = "secrets/token"\n', want: { url: 'https://cache.example/kiln', key: '/tree/keys/cache.asc', tokenFile: '/tree/secrets/token' } },
    { what: 'the URL alone', text: '[substitutes]\nurl = "http://127.0.0.1:8080"\n', want: { url: 'http://127.0.0.1:8080' } },
    { what: 'absolute paths kept', text: '[substitutes]\nurl = "https://cache.example"\nkey = "/etc/kiln/cache.asc"\ntoken-file = "../token"\n', want: { url: 'https://cache.example', key: '/etc/kiln/cache.asc', tokenFile: '/token' } },
    { what: 'no table', text: 'env = "bookworm"\n', want: undefined },
  ];
  for (const c of cases) {
    const { config, diagnostics } = parseTreeConfig(c.text, FILE);
    assert.deepEqual(diagnostics, [], c.what);
    assert.deepEqual(config.substitutes, c.want, c.what);
  }
});

const EXAMPLE = 'give the base URL of the kiln serve whose cache to use, e.g. url = "https://cache.example/kiln"';
const substituteRows: { name: string; text: string; want: string[] }[] = [
  { name: 'not a URL', text: '[substitutes]\nurl = "cache.example/kiln"\n', want: [`substitutes.url: "cache.example/kiln" is not a URL: ${EXAMPLE}`] },
  { name: 'another scheme', text: '[substitutes]\nurl = "ftp://cache.example"\n', want: [`substitutes.url: "ftp://cache.example": only http:// and https:// URLs are served by kiln serve: ${EXAMPLE}`] },
  { name: 'a password in the URL, not repeated', text: '[substitutes]\nurl = "https://me:s3cret@cache.example"\n', want: ['substitutes.url: the URL holds a user name or password, which kiln would print in its notes and which would go wherever the tree goes: put the token in a file named by token-file = "FILE" instead'] },
  { name: 'a query', text: '[substitutes]\nurl = "https://cache.example/?x=1"\n', want: [`substitutes.url: "https://cache.example/?x=1": a query or fragment has no place in a substituter's URL: ${EXAMPLE}`] },
  { name: 'no url', text: '[substitutes]\nkey = "k.asc"\n', want: ['substitutes.url: missing: the base URL of the kiln serve whose cache to use, e.g. url = "https://cache.example/kiln"'] },
  { name: 'url not a string', text: '[substitutes]\nurl = 8080\n', want: ['substitutes.url: expected a string, got 8080: the base URL of the kiln serve whose cache to use, e.g. url = "https://cache.example/kiln"'] },
  {
    name: 'the token itself, refused (not echoed)',
    text: '[substitutes]\nurl = "https://cache.example"\ntoken = "kiln_s3cret"\n',
    want: ['substitutes: the token is not written in kiln.toml (it goes wherever the tree goes): put it in a file outside version control and name it with token-file = "FILE" (relative to kiln.toml), or give it with --substitute-token or $KILN_SUBSTITUTE_TOKEN'],
  },
  { name: 'an unknown key, the nearest named', text: '[substitutes]\nurl = "https://cache.example"\ntoken_file = "t"\n', want: ['substitutes: unknown key "token_file" (did you mean "token-file"?): [substitutes] holds url, key and token-file'] },
  {
    name: 'empty and wrong-typed paths',
    text: '[substitutes]\nurl = "https://cache.example"\nkey = ""\ntoken-file = 5\n',
    want: ['substitutes.key: must be the path of a file, relative to kiln.toml (e.g. key = "keys/cache.asc"), got ""', 'substitutes.token-file: must be the path of a file, relative to kiln.toml (e.g. token-file = "secrets/token"), got 5'],
  },
  {
    name: 'a string, not a table; the other keys still checked',
    text: 'substitutes = "https://cache.example"\narchs = ["amd65"]\n',
    want: [
      'substitutes: must be a table: a [substitutes] section with url = "https://cache.example/kiln", and optionally key = "FILE" and token-file = "FILE" (relative to kiln.toml), got "https://cache.example"',
      'archs[0]: "amd65" is not a Debian architecture name (did you mean "amd64"?): use names of dpkg-architecture -L such as amd64, arm64, riscv64',
    ],
  },
];

for (const row of substituteRows) {
  test(`kiln.toml diagnostic: [substitutes]: ${row.name}`, () => {
    assert.deepEqual(problems(row.text), row.want);
    assert.equal(parseTreeConfig(row.text, FILE).config.substitutes, undefined);
    assert.ok(!problems(row.text).join('\n').includes('s3cret'), 'a secret is not repeated');
  });
}

test('[options]: NAME = true|false for every package, [options.PKG] for one, in that order; what is wrong is said by key', () => {
  const { config, diagnostics } = parseTreeConfig('[options.curl]\nssl = false\n\n[options]\ndocs = true\n', FILE);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(config.options, [
    { name: 'docs', on: true, from: `${FILE}: options.docs` },
    { pkg: 'curl', name: 'ssl', on: false, from: `${FILE}: options.curl.ssl` },
  ]);
  assert.equal(parseTreeConfig('env = "x"\n', FILE).config.options, undefined);
  assert.deepEqual(problems('[options]\nDocs = true\nlist = ["a"]\n\n[options.curl]\nssl = "no"\nWith_Gui = true\n\n[options.Curl]\nssl = true\n'), [
    'options.Docs: "Docs" is not an option name: use lowercase letters, digits and -, starting with a letter',
    'options.list: expected true or false (the option on or off for every package that has it) or a table ([options.PKG] with NAME = true|false), got ["a"]',
    'options.curl.ssl: expected true or false (the option on or off for curl), got "no"',
    'options.curl.With_Gui: "With_Gui" is not an option name: use lowercase letters, digits and -, starting with a letter',
    'options.Curl: "Curl" is not a package name: an [options.PKG] table names a package of the tree',
  ]);
});

test('an unknown key says which known one it is close to, at the top and in a table', () => {
  assert.deepEqual(problems('envv = "x"\n[defaults]\nmemry = "1G"\n[hooks]\nrun-finshed = ["x"]\n'), [
    'unknown key "envv" (did you mean "env"?)',
    'defaults: unknown key "memry" (did you mean "memory"?)',
    'hooks: unknown key "run-finshed" (did you mean "run-finished"?): the events are run-finished and job-failed',
  ]);
});
