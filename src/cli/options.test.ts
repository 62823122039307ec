// options.ts: the command line's parsers of shared options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { parseArchList } from './options.ts';

test('parseArchList: Debian arch names, each once, in the order given', () => {
  assert.deepEqual(parseArchList('amd64'), ['amd64']);
  assert.deepEqual(parseArchList('amd64,amd64'), ['amd64']);
  assert.deepEqual(parseArchList(' riscv64, amd64 ,riscv64,'), ['riscv64', 'amd64']);
  assert.deepEqual(parseArchList('hurd-amd64,x32'), ['hurd-amd64', 'x32']);
});

test('parseArchList: a name dpkg does not know is a usage error with the likely name', () => {
  const cases: [string, string, RegExp][] = [
    ['amd65', 'amd65', /^did you mean "amd64"\?/],
    ['amd64,x86-64', 'x86-64', /^did you mean "amd64"\?/],
    ['AMD64', 'AMD64', /^did you mean "amd64"\?.*lowercase/],
    ['hurd-x86', 'hurd-x86', /^did you mean "hurd-i386"\?/],
    ['sparc128', 'sparc128', /^Debian architecture names/],
    ['any', 'any', /^Debian architecture names/],
  ];
  for (const [text, bad, hint] of cases) {
    assert.throws(() => parseArchList(text), (e: unknown) => {
      assert.ok(e instanceof KilnError);
      assert.equal(e.code, 'usage');
      assert.equal(e.message, `--arch: "${bad}" is not a Debian architecture name (e.g. amd64,riscv64)`);
      assert.match(e.hint ?? '', hint);
      return true;
    }, text);
  }
  assert.throws(() => parseArchList(' , '), /give at least one architecture/);
});

test('--dsc takes one file and may repeat: the source names after it stay arguments', async () => {
  const { Command } = await import('commander');
  const { addDebianOptions } = await import('./options.ts');
  let got: { args: string[]; dsc: unknown } | undefined;
  const cmd = addDebianOptions(new Command('build').argument('[targets...]'), { all: false }).action((args: string[], opts: { dsc?: string[] }) => {
    got = { args, dsc: opts.dsc };
  });
  await cmd.parseAsync(['--debian', 'bookworm', '--dsc', 'a.dsc', 'libmd', '--dsc', 'b.dsc', 'hello'], { from: 'user' });
  assert.deepEqual(got, { args: ['libmd', 'hello'], dsc: ['a.dsc', 'b.dsc'] });
});
