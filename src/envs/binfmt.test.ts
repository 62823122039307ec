import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { checkForeignArch, ensureForeignArch, parseBinfmtEntry, parseBinfmtsFormat, registerLine, runsNatively } from './binfmt.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-binfmt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ENTRY_F = `enabled
interpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200f300
mask ffffffffffffff00fffffffffffffffffeffffff
`;

const FORMAT = `package qemu-user-static
interpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P
magic \\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00
offset 0
mask \\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff
credentials no
fix_binary yes
preserve yes
`;

test('parseBinfmtEntry reads the kernel entry', () => {
  assert.deepEqual(parseBinfmtEntry(ENTRY_F), { enabled: true, interpreter: '/usr/libexec/qemu-binfmt/riscv64-binfmt-P', flags: 'POCF' });
  assert.deepEqual(parseBinfmtEntry('disabled\ninterpreter /x\nflags: \noffset 0\n'), { enabled: false, interpreter: '/x', flags: '' });
});

test('registerLine always asks for F, and P/C as the format says', () => {
  const fmt = parseBinfmtsFormat(FORMAT);
  assert.equal(fmt.preserve, true);
  assert.equal(fmt.credentials, false);
  assert.equal(
    registerLine('qemu-riscv64', fmt),
    ':qemu-riscv64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00:' +
      '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/riscv64-binfmt-P:PF',
  );
  assert.match(registerLine('qemu-arm', { ...fmt, preserve: false, credentials: true }), /:CF$/);
});

test('runsNatively: the host arch, and i386 on amd64', () => {
  assert.equal(runsNatively('amd64', 'amd64'), true);
  assert.equal(runsNatively('i386', 'amd64'), true);
  assert.equal(runsNatively('riscv64', 'amd64'), false);
  assert.equal(runsNatively('amd64', 'arm64'), false);
});

interface Fixture {
  readonly binfmtDir: string;
  readonly formatsDir: string;
  readonly interp: string;
}

async function fixture(t: { after: (fn: () => Promise<void>) => void }, o: { mounted?: boolean; entry?: string; format?: boolean; interp?: boolean } = {}): Promise<Fixture> {
  const dir = await tempDir(t);
  const binfmtDir = join(dir, 'binfmt_misc');
  const formatsDir = join(dir, 'binfmts');
  const interp = join(dir, 'riscv64-binfmt-P');
  await mkdir(binfmtDir);
  await mkdir(formatsDir);
  if (o.mounted !== false) await writeFile(join(binfmtDir, 'register'), '');
  if (o.entry !== undefined) await writeFile(join(binfmtDir, 'qemu-riscv64'), o.entry.replaceAll('/usr/libexec/qemu-binfmt/riscv64-binfmt-P', interp));
  if (o.format !== false) await writeFile(join(formatsDir, 'qemu-riscv64'), FORMAT.replaceAll('/usr/libexec/qemu-binfmt/riscv64-binfmt-P', interp));
  if (o.interp !== false) await writeFile(join(dir, 'riscv64-binfmt-P'), '');
  return { binfmtDir, formatsDir, interp };
}

test('checkForeignArch tells each state apart', async (t) => {
  const host = 'amd64';
  assert.deepEqual(await checkForeignArch('amd64', { host }), { state: 'native' });
  assert.equal((await checkForeignArch('vax', { host })).state, 'unknown-arch');
  const cases: [Parameters<typeof fixture>[1], string][] = [
    [{ mounted: false }, 'not-mounted'],
    [{}, 'missing'],
    [{ entry: ENTRY_F.replace('enabled', 'disabled') }, 'disabled'],
    [{ entry: ENTRY_F.replace('POCF', 'POC') }, 'no-fix-binary'],
    [{ entry: ENTRY_F, interp: false }, 'interpreter-missing'],
    [{ entry: ENTRY_F }, 'ready'],
  ];
  for (const [o, state] of cases) {
    const f = await fixture(t, o);
    assert.equal((await checkForeignArch('riscv64', { host, ...f })).state, state, JSON.stringify(o));
  }
});

test('without qemu-user-static, ensureForeignArch says exactly what to install', async (t) => {
  const f = await fixture(t, { format: false, interp: false });
  await assert.rejects(ensureForeignArch('riscv64', { host: 'amd64', mayRegister: true, ...f }), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, 'sandbox-unavailable');
    assert.match(e.message, /qemu-user-static is not installed/);
    assert.equal(e.hint, 'as root: apt-get install qemu-user-static binfmt-support');
    return true;
  });
});

test('not root: ensureForeignArch says which command enables the format', async (t) => {
  const f = await fixture(t, {});
  await assert.rejects(ensureForeignArch('riscv64', { host: 'amd64', mayRegister: false, ...f }), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.match(e.message, /qemu-riscv64 is missing, and only root can fix that/);
    assert.match(e.hint ?? '', /update-binfmts --enable qemu-riscv64/);
    return true;
  });
  assert.equal((await ensureForeignArch('riscv64', { host: 'amd64', mayRegister: false, ...(await fixture(t, { entry: ENTRY_F })) })).state, 'ready');
  await assert.rejects(ensureForeignArch('vax', { host: 'amd64', ...f }), /does not know how to run vax/);
});

test('ensureForeignArch writes a register line with F when update-binfmts cannot help', async (t) => {
  // A fake binfmt_misc: "registering" means the kernel creates the entry; emulate that by
  // checking what was written to `register` and then creating the entry the way the kernel would.
  const f = await fixture(t, {});
  const said: string[] = [];
  const p = ensureForeignArch('riscv64', { host: 'amd64', mayRegister: true, ...f, onOutput: (l) => said.push(l) });
  await assert.rejects(p, /still missing after registering/);
  const written = await readFile(join(f.binfmtDir, 'register'), 'utf8');
  assert.match(written, new RegExp(`^:qemu-riscv64:M:0:\\\\x7f.*:${f.interp.replaceAll('/', '\\/')}:PF$`));
  assert.ok(said.some((l) => l.includes('registering binfmt qemu-riscv64 with the fix-binary flag')), said.join('\n'));
});
