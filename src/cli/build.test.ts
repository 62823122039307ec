import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callerDebianOptions, readTokenFile, substituteChoice } from './build.ts';
import { KilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

test('callerDebianOptions: names the DEB_BUILD_* settings sbuild would pass and kiln does not', () => {
  assert.equal(callerDebianOptions({}), undefined);
  assert.equal(callerDebianOptions({ DEB_BUILD_OPTIONS: '  ' }), undefined, 'blank is unset');
  assert.equal(callerDebianOptions({ DEB_BUILD_OPTIONS: 'nocheck noopt' }), 'DEB_BUILD_OPTIONS="nocheck noopt"');
  assert.equal(callerDebianOptions({ DEB_BUILD_OPTIONS: 'nocheck', DEB_BUILD_PROFILES: 'nodoc' }), 'DEB_BUILD_OPTIONS="nocheck" and DEB_BUILD_PROFILES="nodoc"');
});

test('substituteChoice: the command line wins over kiln.toml [substitutes], flag by flag; a URL given replaces it whole; --no-substitute turns it off', () => {
  const TOML = '/t/kiln.toml';
  const tree = { file: TOML, substitutes: { url: 'https://toml.example', key: '/t/keys/cache.asc', tokenFile: '/t/secrets/token' } };
  const bare = { file: TOML, substitutes: { url: 'https://toml.example' } };
  const none = { file: TOML };
  const fromFile = { file: '/t/secrets/token', from: `${TOML} [substitutes] token-file (/t/secrets/token)` };
  const tomlKey = { file: '/t/keys/cache.asc', label: `${TOML} [substitutes] key` };
  type Cli = Parameters<typeof substituteChoice>[0];
  const cases: { what: string; cli: Partial<Cli>; env?: string; tree: Parameters<typeof substituteChoice>[2]; want: ReturnType<typeof substituteChoice> }[] = [
    { what: 'nothing anywhere', cli: {}, tree: none, want: {} },
    { what: 'kiln.toml alone: its url, token file and key', cli: {}, tree, want: { choice: { urls: ['https://toml.example'], token: fromFile, key: tomlKey } } },
    { what: 'kiln.toml url alone: no token, no key', cli: {}, tree: bare, want: { choice: { urls: ['https://toml.example'] } } },
    { what: '--substitute-token over token-file', cli: { token: 'T1' }, tree, want: { choice: { urls: ['https://toml.example'], token: { value: 'T1', from: '--substitute-token' }, key: tomlKey } } },
    { what: 'token-file over $KILN_SUBSTITUTE_TOKEN (the variable may be for another server)', cli: {}, env: 'E1', tree, want: { choice: { urls: ['https://toml.example'], token: fromFile, key: tomlKey } } },
    { what: '$KILN_SUBSTITUTE_TOKEN when kiln.toml names no token file', cli: {}, env: 'E1', tree: bare, want: { choice: { urls: ['https://toml.example'], token: { value: 'E1', from: '$KILN_SUBSTITUTE_TOKEN' } } } },
    { what: 'an empty $KILN_SUBSTITUTE_TOKEN is unset', cli: {}, env: '', tree, want: { choice: { urls: ['https://toml.example'], token: fromFile, key: tomlKey } } },
    { what: '--substitute-token over $KILN_SUBSTITUTE_TOKEN', cli: { token: 'T1' }, env: 'E1', tree: bare, want: { choice: { urls: ['https://toml.example'], token: { value: 'T1', from: '--substitute-token' } } } },
    { what: '--substitute-key over key', cli: { key: 'mine.asc' }, tree, want: { choice: { urls: ['https://toml.example'], token: fromFile, key: { file: 'mine.asc', label: '--substitute-key' } } } },
    { what: '--substitute URL replaces kiln.toml whole: its token file goes to no other server, its key checks no other\'s', cli: { urls: ['https://cli.example'] }, tree, want: { choice: { urls: ['https://cli.example'] } } },
    { what: '--substitute URL with its own token and key', cli: { urls: ['https://a.example', 'https://b.example'], token: 'T1', key: 'k.asc' }, tree, want: { choice: { urls: ['https://a.example', 'https://b.example'], token: { value: 'T1', from: '--substitute-token' }, key: { file: 'k.asc', label: '--substitute-key' } } } },
    { what: '--substitute URL, $KILN_SUBSTITUTE_TOKEN', cli: { urls: ['https://cli.example'] }, env: 'E1', tree, want: { choice: { urls: ['https://cli.example'], token: { value: 'E1', from: '$KILN_SUBSTITUTE_TOKEN' } } } },
    { what: '--no-substitute: none', cli: { urls: false }, env: 'E1', tree, want: {} },
    { what: 'kiln.toml with --nats: not used, said', cli: { nats: 'nats://n.example:4222', natsFlag: true }, tree, want: { note: `${TOML}: [substitutes] is not used with --nats: the workers build, and do not ask substituters` } },
    { what: 'kiln.toml with $KILN_NATS: said so', cli: { nats: 'nats://n.example:4222' }, tree, want: { note: `${TOML}: [substitutes] is not used with --nats ($KILN_NATS): the workers build, and do not ask substituters` } },
  ];
  for (const c of cases) assert.deepEqual(substituteChoice({ natsFlag: false, ...c.cli }, c.env, c.tree), c.want, c.what);

  const refused: { what: string; cli: Partial<Cli>; tree: Parameters<typeof substituteChoice>[2]; message: RegExp }[] = [
    { what: '--substitute-key with no substituter', cli: { key: 'k.asc' }, tree: none, message: /^--substitute-key is for --substitute URL, which was not given$/ },
    { what: '--substitute-token with no substituter', cli: { token: 'T' }, tree: none, message: /^--substitute-token is for --substitute URL, which was not given$/ },
    { what: '--substitute-token with --no-substitute', cli: { urls: false, token: 'T' }, tree, message: /^--substitute-token is for a substituter, and --no-substitute turns them off$/ },
    { what: '--substitute with --nats', cli: { urls: ['https://cli.example'], nats: 'nats://n.example:4222', natsFlag: true }, tree, message: /^--substitute with --nats: not supported yet/ },
  ];
  for (const c of refused) assert.throws(() => substituteChoice({ natsFlag: false, ...c.cli }, undefined, c.tree), (e: unknown) => e instanceof KilnError && e.code === 'usage' && c.message.test(e.message), c.what);
});

test('readTokenFile: the token alone on its line; a missing, empty or odd file named with kiln.toml, the token never echoed', async () => {
  await using dir = await tmpDir('kiln-token-');
  const file = join(dir.path, 'token');
  await writeFile(file, 'kiln_abc_123\n');
  assert.equal(await readTokenFile(file, '/t/kiln.toml'), 'kiln_abc_123');
  const bad: [string, string | undefined, RegExp][] = [
    ['missing', undefined, /^\/t\/kiln\.toml \[substitutes\] token-file \S+\/gone: cannot read it \(ENOENT\)$/],
    ['empty', '\n', /: the file is empty$/],
    ['two lines', 'kiln_abc s3cret\nmore\n', /: the file holds more than a token \(one line, no spaces\)$/],
    ['a control character', 'kiln_abc\u0007', /: the file holds more than a token/],
  ];
  for (const [what, text, message] of bad) {
    const path = text === undefined ? join(dir.path, 'gone') : join(dir.path, what.replace(/ /g, '-'));
    if (text !== undefined) await writeFile(path, text);
    await assert.rejects(readTokenFile(path, '/t/kiln.toml'), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && message.test(e.message) && !e.message.includes('s3cret') && /kiln token create/.test(e.hint ?? ''), what);
  }
  if (process.getuid?.() !== 0) {
    await chmod(file, 0o000);
    await assert.rejects(readTokenFile(file, '/t/kiln.toml'), /cannot read it \(EACCES\)/);
  }
});
