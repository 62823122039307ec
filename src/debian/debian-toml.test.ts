import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEBIAN_FILE, parseDebianToml, readDebianToml } from './debian-toml.ts';
import { formatDiagnostic, type Diagnostic } from '../plan/spec.ts';

const FILE = '/trees/t/debian.toml';
const show = (ds: readonly Diagnostic[]) => ds.map(formatDiagnostic);

test('a full debian.toml: every key read, paths resolved beside the file, sizes and durations parsed', () => {
  const text = [
    'suite = "bookworm"',
    'archs = ["amd64", "riscv64"]',
    'mirror = "http://mirror.example/debian///"',
    'keyring = "keys/archive.asc"',
    'check-valid-until = false',
    'components = ["main", "contrib", "main"]',
    'sources = ["hello", "zlib=1:1.2.13.dfsg-1", "libstdc++6.0=1.0~rc1+b2"]',
    'dscs = ["local/foo_1.0-1.dsc", "/trees/t/abs/bar_2.dsc"]',
    'profiles = ["nocheck", "nodoc", "stage1"]',
    'nocheck = true',
    'try-install = true',
    'autopkgtest = true',
    'cross = true',
    'binnmu = 2',
    'cpus = 4',
    'memory = "2G"',
    'timeout = "90m"',
    'loop-timeout = "1h"',
  ].join('\n');
  const r = parseDebianToml(text, FILE);
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.config, {
    file: FILE,
    suite: 'bookworm',
    archs: ['amd64', 'riscv64'],
    mirror: 'http://mirror.example/debian',
    keyring: '/trees/t/keys/archive.asc',
    checkValidUntil: false,
    components: ['main', 'contrib'],
    sources: ['hello', 'zlib=1:1.2.13.dfsg-1', 'libstdc++6.0=1.0~rc1+b2'],
    dscs: ['/trees/t/local/foo_1.0-1.dsc', '/trees/t/abs/bar_2.dsc'],
    profiles: ['nocheck', 'nodoc', 'stage1'],
    nocheck: true,
    tryInstall: true,
    autopkgtest: true,
    cross: true,
    binnmu: 2,
    cpus: 4,
    memoryBytes: 2 * 1024 ** 3,
    timeoutMs: 90 * 60_000,
    loopTimeoutMs: 3_600_000,
    extraRepositories: [],
    extraKeys: [],
    extraPackages: [],
  });
});

test('defaults: only suite and one source given', () => {
  const r = parseDebianToml('suite = "trixie"\nsources = ["hello"]\n', FILE);
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.config, {
    file: FILE, suite: 'trixie', archs: undefined, mirror: undefined, keyring: undefined, checkValidUntil: true, components: undefined, sources: ['hello'], dscs: [], profiles: [],
    nocheck: false, tryInstall: false, autopkgtest: false, cross: false, binnmu: undefined, cpus: undefined, memoryBytes: undefined, timeoutMs: undefined, loopTimeoutMs: undefined, extraRepositories: [], extraKeys: [], extraPackages: [],
  });
  // dscs alone is enough too.
  assert.deepEqual(parseDebianToml('suite = "trixie"\ndscs = ["a.dsc"]\n', FILE).config?.dscs, ['/trees/t/a.dsc']);
});

test('components: archive component names, at least one; anything else is said naming the key', () => {
  const said = (v: string) => show(parseDebianToml(`suite = "bookworm"\nsources = ["b43-fwcutter"]\ncomponents = ${v}\n`, FILE).diagnostics);
  assert.deepEqual(parseDebianToml('suite = "bookworm"\nsources = ["hello"]\ncomponents = ["contrib", "main", "non-free-firmware"]\n', FILE).config?.components, ['contrib', 'main', 'non-free-firmware']);
  assert.deepEqual(said('[]'), [`${FILE}: components: must have at least 1 item(s)`]);
  assert.deepEqual(said('"main,contrib"').length, 1);
  assert.match(said('["main", "contrib,non-free"]').join('\n'), /^\/trees\/t\/debian\.toml: components\[1\]: an archive component such as main, contrib, non-free or non-free-firmware/);
  assert.match(show(parseDebianToml('suite = "bookworm"\nsources = ["hello"]\ncomponent = ["main"]\n', FILE).diagnostics).join('\n'), /did you mean "components"\?/);
});

test('binnmu: a number, or "auto"; anything else is said naming the key', () => {
  assert.equal(parseDebianToml('suite = "trixie"\nsources = ["hello"]\nbinnmu = "auto"\n', FILE).config?.binnmu, 'auto');
  assert.equal(parseDebianToml('suite = "trixie"\nsources = ["hello"]\nbinnmu = 4\n', FILE).config?.binnmu, 4);
  const said = (v: string) => show(parseDebianToml(`suite = "trixie"\nsources = ["hello"]\nbinnmu = ${v}\n`, FILE).diagnostics);
  assert.deepEqual(said('"next"'), [`${FILE}: binnmu: expected a binNMU number from 1 to 999, or "auto", got "next"`]);
  assert.deepEqual(said('0'), [`${FILE}: binnmu: must be at least 1, got 0`]);
  assert.equal(said('1000').length, 1);
});

test('keyring: a file of the tree, relative to the file; one outside the folder is refused naming the key', () => {
  assert.equal(parseDebianToml('suite = "sid"\nsources = ["hello"]\nkeyring = "/trees/t/keys/ports.gpg"\n', FILE).config?.keyring, '/trees/t/keys/ports.gpg');
  for (const outside of ['../ports.gpg', '/usr/share/keyrings/debian-ports-archive-keyring.gpg']) {
    assert.deepEqual(show(parseDebianToml(`suite = "sid"\nsources = ["hello"]\nkeyring = "${outside}"\n`, FILE).diagnostics), [
      `${FILE}: keyring: ${outside} is outside the folder of ${FILE}: put the archive's keyring into the tree (e.g. keys/archive.gpg) and name it relative to the file`,
    ]);
  }
  assert.match(show(parseDebianToml('suite = "sid"\nsources = ["hello"]\nkeyring = ""\n', FILE).diagnostics).join('\n'), /^\/trees\/t\/debian\.toml: keyring: /);
});

test('every bad key is reported at once as FILE: KEY: message, and no config is returned', () => {
  const text = [
    'suite = "book worm"',
    'archs = ["amd64", "AMD64"]',
    'mirror = "ftp://x/debian"',
    'sources = ["hello", "Bad_Name", 3]',
    'dscs = ["foo.tar.gz"]',
    'profiles = ["No Check"]',
    'nocheck = "yes"',
    'cpus = 0',
    'memory = "lots"',
    'timeout = "forever"',
    'loop-timeout = "sometimes"',
    'sourcse = ["typo"]',
  ].join('\n');
  const r = parseDebianToml(text, FILE);
  assert.equal(r.config, undefined);
  const lines = show(r.diagnostics);
  const want: readonly (readonly [string | undefined, RegExp])[] = [
    ['suite', /suite name such as bookworm/],
    ['archs[1]', /Debian arch name/],
    ['mirror', /http:\/\/ or https:\/\//],
    ['sources[1]', /source package name, or name=version/],
    ['sources[2]', /expected a string, got 3/],
    ['dscs[0]', /ending in \.dsc/],
    ['profiles[0]', /a build profile name such as nocheck/],
    ['nocheck', /expected .*got "yes"/],
    ['cpus', /at least 1, got 0/],
    ['memory', /invalid size "lots"/],
    ['timeout', /invalid duration "forever"/],
    ['loop-timeout', /invalid duration "sometimes"/],
    [undefined, /unknown key "sourcse" \(did you mean "sources"\?\)/],
  ];
  for (const [key, re] of want) {
    assert.ok(r.diagnostics.some((d) => d.file === FILE && d.key === key && re.test(d.message)), `${key ?? '(whole file)'} ${re} in:\n${lines.join('\n')}`);
  }
  assert.equal(r.diagnostics.length, want.length, lines.join('\n'));
});

test('a missing suite, an empty source list, a bad size alone, and invalid TOML', () => {
  assert.deepEqual(show(parseDebianToml('sources = ["hello"]\n', FILE).diagnostics), [`${FILE}: suite: missing required key (expected a string)`]);
  assert.deepEqual(show(parseDebianToml('suite = "bookworm"\n', FILE).diagnostics), [
    `${FILE}: sources: list at least one source package (sources = ["hello"]) or local .dsc (dscs = [...])`,
  ]);
  assert.deepEqual(show(parseDebianToml('suite = "bookworm"\nsources = ["a"]\nmemory = "2X"\n', FILE).diagnostics), [`${FILE}: memory: invalid size "2X"`]);
  const bad = parseDebianToml('suite = "bookworm\nsources = ["a"]\n', FILE);
  assert.equal(bad.config, undefined);
  assert.equal(bad.diagnostics.length, 1);
  assert.equal(bad.diagnostics[0]!.key, undefined);
  assert.match(bad.diagnostics[0]!.message, /^invalid TOML: .* at line 1, column \d+ \(is a string missing its closing quote\?\)$/);
  assert.doesNotMatch(bad.diagnostics[0]!.message, /Invalid TOML document/, 'worded as for recipe.toml and kiln.toml');
});

test('readDebianToml reads the file and names it in diagnostics', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-debian-toml-'));
  try {
    const file = join(dir, DEBIAN_FILE);
    await writeFile(file, 'suite = "bookworm"\nsources = ["hello"]\ndscs = ["sub/x_1.dsc"]\ncpus = 1.5\n');
    const r = await readDebianToml(file);
    assert.deepEqual(show(r.diagnostics), [`${file}: cpus: expected a whole number, got 1.5 (not a whole number)`]);
    await writeFile(file, 'suite = "bookworm"\ndscs = ["sub/x_1.dsc"]\n');
    assert.deepEqual((await readDebianToml(file)).config?.dscs, [join(dir, 'sub/x_1.dsc')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('debian.toml: a .dsc outside the tree is refused (a daemon bundle must not name host files)', () => {
  const r = parseDebianToml('suite = "bookworm"\ndscs = ["../elsewhere/x_1.dsc", "/etc/x_1.dsc", "ok/y_1.dsc"]\n', FILE);
  assert.equal(r.config, undefined);
  assert.deepEqual(r.diagnostics.map((d) => d.key), ['dscs[0]', 'dscs[1]']);
});

test('an unknown key close to a known one suggests it; a far one does not', () => {
  const near = parseDebianToml('suite = "bookworm"\nsources = ["hello"]\nnochek = true\n', FILE);
  assert.deepEqual(show(near.diagnostics), [`${FILE}: unknown key "nochek" (did you mean "nocheck"?)`]);
  const far = parseDebianToml('suite = "bookworm"\nsources = ["hello"]\ncolour = "blue"\n', FILE);
  assert.deepEqual(show(far.diagnostics), [`${FILE}: unknown key "colour"`]);
});

test('extra-packages: paths made absolute beside the file; one outside the tree is named by key', () => {
  const ok = parseDebianToml(['suite = "bookworm"', 'sources = ["hello"]', 'extra-packages = ["debs/libfoo_1.2-1_amd64.deb", "debs/more"]'].join('\n'), FILE);
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.config?.extraPackages, ['/trees/t/debs/libfoo_1.2-1_amd64.deb', '/trees/t/debs/more']);
  const bad = parseDebianToml(['suite = "bookworm"', 'sources = ["hello"]', 'extra-packages = ["debs/a.deb", "../b.deb", "/srv/c.deb"]'].join('\n'), FILE);
  assert.equal(bad.config, undefined);
  assert.deepEqual(show(bad.diagnostics), [
    `${FILE}: extra-packages[1]: ../b.deb is outside the folder of ${FILE}: put the .deb (or its folder) into the tree (e.g. debs/) and name it relative to the file`,
    `${FILE}: extra-packages[2]: /srv/c.deb is outside the folder of ${FILE}: put the .deb (or its folder) into the tree (e.g. debs/) and name it relative to the file`,
  ]);
});

test('extra-repositories and extra-repository-keys: read beside the file; a file: URI, a key outside the tree or a bad line named by key', () => {
  const ok = parseDebianToml([
    'suite = "bookworm"', 'sources = ["hello"]',
    'extra-repositories = ["deb http://mirror.example/debian bookworm-updates main", "deb [signed-by=keys/own.asc] https://repo.example/kiln bookworm"]',
    'extra-repository-keys = ["keys/backports.gpg"]',
  ].join('\n'), FILE);
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.config?.extraRepositories.map((r) => [r.uri, r.suite, r.components, r.signedBy, r.code, r.where]), [
    ['http://mirror.example/debian', 'bookworm-updates', ['main'], undefined, 'config-invalid', `${FILE}: extra-repositories[0]`],
    ['https://repo.example/kiln', 'bookworm', ['main'], '/trees/t/keys/own.asc', 'config-invalid', `${FILE}: extra-repositories[1]`],
  ]);
  assert.deepEqual(ok.config?.extraKeys, ['/trees/t/keys/backports.gpg']);
  const bad = parseDebianToml([
    'suite = "bookworm"', 'sources = ["hello"]',
    'extra-repositories = ["deb file:///srv/repo bookworm main", "deb [signed-by=/etc/k.gpg] http://mirror.example/d bookworm", "deb [trusted=yes] http://mirror.example/d bookworm"]',
    'extra-repository-keys = ["../k.asc"]',
  ].join('\n'), FILE);
  assert.equal(bad.config, undefined);
  const lines = show(bad.diagnostics);
  assert.equal(lines.length, 4, lines.join('\n'));
  assert.match(lines.join('\n'), /extra-repository-keys\[0\]: \.\.\/k\.asc is outside the folder/);
  assert.match(lines.join('\n'), /extra-repositories\[0\]: "deb file:\/\/\/srv\/repo bookworm main": a file: repository is read from the command line only/);
  assert.match(lines.join('\n'), /extra-repositories\[1\]: .*signed-by \/etc\/k\.gpg is outside the folder/);
  assert.match(lines.join('\n'), /extra-repositories\[2\]: "deb \[trusted=yes\] http:\/\/mirror\.example\/d bookworm": trusted= is not accepted/);
});

test('the file lists are checked even when another key is wrong: every problem at once', () => {
  const text = ['suite = "bookworm"', 'sources = ["hello"]', 'nochek = true', 'dscs = ["../x_1.dsc"]', 'extra-repositories = ["deb http://repo.example/x"]', 'keyring = "/etc/k.gpg"'].join('\n');
  const r = parseDebianToml(text, FILE);
  assert.equal(r.config, undefined);
  assert.deepEqual(r.diagnostics.map((d) => `${d.key ?? ''}: ${d.message.slice(0, 40)}`), [
    ': unknown key "nochek" (did you mean "noch',
    'dscs[0]: ../x_1.dsc is outside the folder of /tre',
    'keyring: /etc/k.gpg is outside the folder of /tre',
    'extra-repositories[0]: "deb http://repo.example/x": it names no',
  ]);
});
