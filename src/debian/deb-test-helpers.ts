// Test helpers: build real .deb files with `dpkg-deb --build` from a description, and
// compile small C programs with gcc, for the comparison tests (deb-compare.test.ts,
// test/integration/verify.test.ts). Every file gets a fixed mtime and the build a fixed
// SOURCE_DATE_EPOCH, so two builds of one description are bit-identical.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const FIXED_EPOCH = 1_700_000_000; // 2023-11-14

export interface DebFile {
  readonly content: string | Buffer;
  readonly mode?: number;
  readonly mtime?: number;
}

export interface DebSpec {
  readonly control?: Readonly<Record<string, string>>;
  /** Path (relative, no leading slash) → contents. */
  readonly files: Readonly<Record<string, string | Buffer | DebFile>>;
  /** Write DEBIAN/md5sums as dh_md5sums does (default true). */
  readonly md5sums?: boolean;
  /** Extra DEBIAN/ members (postinst, conffiles…): name → contents (scripts get mode 0755). */
  readonly controlFiles?: Readonly<Record<string, string>>;
}

export const BASE_CONTROL: Readonly<Record<string, string>> = {
  Package: 'widget',
  Version: '1.0-1',
  Architecture: 'amd64',
  Maintainer: 'Kiln Tests <tests@example.invalid>',
  'Installed-Size': '10',
  Description: 'a test package\n kiln deb comparison tests.',
};

/** Build `spec` into `<dir>/<name>.deb` (the tree goes to `<dir>/<name>.tree`). */
export async function buildDeb(dir: string, name: string, spec: DebSpec): Promise<string> {
  const root = join(dir, `${name}.tree`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  const control = { ...BASE_CONTROL, ...spec.control };
  await writeFile(join(root, 'DEBIAN', 'control'), `${Object.entries(control).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
  for (const [name, text] of Object.entries(spec.controlFiles ?? {})) {
    await writeFile(join(root, 'DEBIAN', name), text);
    await chmod(join(root, 'DEBIAN', name), /inst$|rm$|^config$/.test(name) ? 0o755 : 0o644);
  }
  const dirs = new Set<string>();
  const sums: string[] = [];
  for (const [path, f] of Object.entries(spec.files)) {
    const file: DebFile = typeof f === 'string' || Buffer.isBuffer(f) ? { content: f } : f;
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    for (let d = dirname(path); d !== '.'; d = dirname(d)) dirs.add(d);
    await writeFile(full, file.content);
    sums.push(`${createHash('md5').update(file.content).digest('hex')}  ${path}`);
    await chmod(full, file.mode ?? 0o644);
    await utimes(full, file.mtime ?? FIXED_EPOCH, file.mtime ?? FIXED_EPOCH);
  }
  if (spec.md5sums !== false) await writeFile(join(root, 'DEBIAN', 'md5sums'), `${sums.sort().join('\n')}\n`);
  for (const d of [...dirs, '.']) {
    await chmod(join(root, d), 0o755);
    await utimes(join(root, d), FIXED_EPOCH, FIXED_EPOCH);
  }
  const out = join(dir, `${name}.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { env: { ...process.env, SOURCE_DATE_EPOCH: String(FIXED_EPOCH) } });
  return out;
}

/** Compile C `source` with gcc; returns the binary's contents. */
export async function compileC(dir: string, name: string, source: string, ldflags: readonly string[] = []): Promise<Buffer> {
  // Each build in its own directory, from a file of the same name (`prog.c`), so that only
  // the source's contents can differ between two builds.
  const where = join(dir, `cc-${name}`);
  await mkdir(where, { recursive: true });
  const src = join(where, 'prog.c');
  const bin = join(where, 'prog');
  await writeFile(src, source);
  await run('gcc', ['-O2', `-ffile-prefix-map=${where}=.`, '-o', bin, src, ...ldflags], { cwd: where });
  return readFile(bin);
}
