// Foreign architectures through qemu-user-static and binfmt_misc (issue 3 §5).
//
// To make and use a riscv64 root on an amd64 machine, the kernel must hand riscv64 ELF
// binaries to qemu. That is a binfmt_misc registration `qemu-<cpu>` whose interpreter
// exists and which carries the F (fix-binary) flag: with F the kernel opens the
// interpreter once at registration, so it works inside chroots and namespaces where the
// interpreter's path does not exist. ensureForeignArch() checks this, mounts binfmt_misc
// and registers the format (with F) when it is missing and we are root, or says exactly
// what to install or enable.

import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { ENV_ERRORS } from './env-errors.ts';

/** Debian architecture → qemu's cpu name (the `qemu-<cpu>` binfmt and binary names). */
export const QEMU_CPU: Readonly<Record<string, string>> = {
  amd64: 'x86_64', i386: 'i386', arm64: 'aarch64', armhf: 'arm', armel: 'arm',
  riscv64: 'riscv64', ppc64el: 'ppc64le', ppc64: 'ppc64', powerpc: 'ppc', s390x: 's390x',
  mips64el: 'mips64el', mipsel: 'mipsel', loong64: 'loongarch64', alpha: 'alpha',
  hppa: 'hppa', m68k: 'm68k', sh4: 'sh4', sparc64: 'sparc64',
};

const NODE_TO_DEB: Readonly<Record<string, string>> = {
  x64: 'amd64', ia32: 'i386', arm64: 'arm64', arm: 'armhf', riscv64: 'riscv64',
  ppc64: 'ppc64el', s390x: 's390x', loong64: 'loong64', mips64el: 'mips64el',
};

/** Which foreign arches the host's CPU runs without emulation. */
const COMPAT: Readonly<Record<string, readonly string[]>> = { amd64: ['i386'] };

let cachedHost: string | undefined;

/** This machine's Debian architecture (dpkg's, else derived from Node's). */
export function hostArch(): string {
  if (cachedHost !== undefined) return cachedHost;
  try {
    cachedHost = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    cachedHost = NODE_TO_DEB[process.arch] ?? process.arch;
  }
  return cachedHost;
}

export function runsNatively(arch: string, host: string = hostArch()): boolean {
  return arch === host || (COMPAT[host]?.includes(arch) ?? false);
}

export interface BinfmtEntry {
  readonly enabled: boolean;
  readonly interpreter: string;
  readonly flags: string;
}

/** A kernel entry, /proc/sys/fs/binfmt_misc/<name>. */
export function parseBinfmtEntry(text: string): BinfmtEntry {
  const lines = text.split('\n').map((l) => l.trim());
  const value = (key: string): string => lines.find((l) => l.startsWith(`${key} `) || l.startsWith(`${key}:`))?.replace(/^[a-z]+:?\s*/, '') ?? '';
  return { enabled: lines[0] === 'enabled', interpreter: value('interpreter'), flags: value('flags') };
}

export interface BinfmtFormat {
  readonly interpreter: string;
  readonly magic: string;
  readonly mask: string;
  readonly offset: number;
  readonly preserve: boolean;
  readonly credentials: boolean;
}

/** A binfmt-support format file, /usr/share/binfmts/qemu-<cpu> (`key value` lines). */
export function parseBinfmtsFormat(text: string): BinfmtFormat {
  const f = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) f.set(m[1], (m[2] ?? '').trim());
  }
  return {
    interpreter: f.get('interpreter') ?? '',
    magic: f.get('magic') ?? '',
    mask: f.get('mask') ?? '',
    offset: Number(f.get('offset') ?? '0'),
    preserve: f.get('preserve') === 'yes',
    credentials: f.get('credentials') === 'yes',
  };
}

/** The line to write to binfmt_misc/register: always with F, plus P/C as the format asks. */
export function registerLine(name: string, fmt: BinfmtFormat): string {
  const flags = `${fmt.preserve ? 'P' : ''}${fmt.credentials ? 'C' : ''}F`;
  return `:${name}:M:${fmt.offset}:${fmt.magic}:${fmt.mask}:${fmt.interpreter}:${flags}`;
}

export type BinfmtState =
  | { readonly state: 'native' }
  | { readonly state: 'ready'; readonly entry: BinfmtEntry }
  | { readonly state: 'unknown-arch' }
  | { readonly state: 'not-mounted' }
  | { readonly state: 'missing' }
  | { readonly state: 'disabled'; readonly entry: BinfmtEntry }
  | { readonly state: 'no-fix-binary'; readonly entry: BinfmtEntry }
  | { readonly state: 'interpreter-missing'; readonly entry: BinfmtEntry };

export interface BinfmtPaths {
  /** Default /proc/sys/fs/binfmt_misc. */
  readonly binfmtDir?: string;
  /** binfmt-support's format files; default /usr/share/binfmts. */
  readonly formatsDir?: string;
  readonly host?: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** Can this machine run `arch` binaries (natively or through a usable qemu registration)? */
export async function checkForeignArch(arch: string, paths: BinfmtPaths = {}): Promise<BinfmtState> {
  if (runsNatively(arch, paths.host ?? hostArch())) return { state: 'native' };
  const cpu = QEMU_CPU[arch];
  if (cpu === undefined) return { state: 'unknown-arch' };
  const dir = paths.binfmtDir ?? '/proc/sys/fs/binfmt_misc';
  if (!(await exists(join(dir, 'register')))) return { state: 'not-mounted' };
  const text = await readOrUndefined(join(dir, `qemu-${cpu}`));
  if (text === undefined) return { state: 'missing' };
  const entry = parseBinfmtEntry(text);
  if (!entry.enabled) return { state: 'disabled', entry };
  if (!entry.flags.includes('F')) return { state: 'no-fix-binary', entry };
  // With F the kernel holds the interpreter open, but a deleted one means a broken install.
  if (!(await exists(entry.interpreter))) return { state: 'interpreter-missing', entry };
  return { state: 'ready', entry };
}

const INSTALL = 'apt-get install qemu-user-static binfmt-support';

function run(argv: readonly string[], signal?: AbortSignal): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd ?? 'false', args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.trim() }));
  });
}

export interface EnsureOptions extends BinfmtPaths {
  readonly onOutput?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Default: whether we run as root. */
  readonly mayRegister?: boolean;
}

/**
 * Make sure `arch` binaries run here; registers `qemu-<cpu>` with the F flag when that is
 * missing and we may. Throws `sandbox-unavailable` saying what to install or enable.
 */
export async function ensureForeignArch(arch: string, options: EnsureOptions = {}): Promise<BinfmtState> {
  const say = options.onOutput ?? (() => {});
  const dir = options.binfmtDir ?? '/proc/sys/fs/binfmt_misc';
  const formatsDir = options.formatsDir ?? '/usr/share/binfmts';
  const mayRegister = options.mayRegister ?? process.getuid?.() === 0;
  let st = await checkForeignArch(arch, options);
  if (st.state === 'native' || st.state === 'ready') return st;
  const cpu = QEMU_CPU[arch];
  if (st.state === 'unknown-arch' || cpu === undefined) {
    throw new KilnError(ENV_ERRORS.usage, `kiln does not know how to run ${arch} binaries on this ${options.host ?? hostArch()} machine`, {
      hint: `use one of: ${Object.keys(QEMU_CPU).join(', ')}`,
    });
  }
  const name = `qemu-${cpu}`;
  const formatText = await readOrUndefined(join(formatsDir, name));
  const fmt = formatText === undefined ? undefined : parseBinfmtsFormat(formatText);
  if (fmt === undefined || fmt.interpreter === '' || !(await exists(fmt.interpreter))) {
    throw new KilnError(ENV_ERRORS.unavailable, `cannot run ${arch} binaries: qemu-user-static is not installed (no ${join(formatsDir, name)} with an existing interpreter)`, {
      hint: `as root: ${INSTALL}`,
    });
  }
  if (!mayRegister) {
    throw new KilnError(ENV_ERRORS.unavailable, `cannot run ${arch} binaries: binfmt_misc ${name} is ${st.state}, and only root can fix that`, {
      hint: st.state === 'not-mounted'
        ? `as root: mount -t binfmt_misc binfmt_misc ${dir} && update-binfmts --enable ${name}`
        : `as root: update-binfmts --enable ${name} (the F flag is needed: fix_binary yes in /var/lib/binfmts/${name})`,
    });
  }
  if (st.state === 'not-mounted') {
    say(`mounting binfmt_misc on ${dir}`);
    const r = await run(['mount', '-t', 'binfmt_misc', 'binfmt_misc', dir], options.signal);
    if (r.code !== 0) {
      throw new KilnError(ENV_ERRORS.unavailable, `cannot mount binfmt_misc on ${dir}: ${r.output}`, {
        hint: 'run kiln on a machine (or a privileged container) where binfmt_misc can be mounted, or mount it on the host',
      });
    }
    st = await checkForeignArch(arch, options);
    if (st.state === 'ready') return st;
  }
  if (st.state === 'disabled' || st.state === 'no-fix-binary' || st.state === 'interpreter-missing') {
    // A registration's flags cannot be changed in place: remove it, then register again.
    say(`re-registering binfmt ${name} (was ${st.state})`);
    await writeFile(join(dir, name), '-1');
  }
  say(`registering binfmt ${name} with the fix-binary flag`);
  // binfmt-support knows only the real binfmt_misc: use it there, never with another dir.
  const ub = options.binfmtDir === undefined ? await run(['update-binfmts', '--enable', name], options.signal).catch(() => undefined) : undefined;
  st = await checkForeignArch(arch, options);
  if (st.state !== 'ready') {
    // No binfmt-support, or its database lacks fix_binary: write the registration ourselves.
    if (st.state !== 'missing') await writeFile(join(dir, name), '-1').catch(() => undefined);
    try {
      await writeFile(join(dir, 'register'), registerLine(name, fmt));
    } catch (e) {
      throw new KilnError(ENV_ERRORS.unavailable, `cannot register ${name} in ${dir}: ${(e as Error).message}${ub === undefined ? '' : ` (update-binfmts said: ${ub.output})`}`, {
        hint: `as root on the host: ${INSTALL}, then update-binfmts --enable ${name}`,
      });
    }
    st = await checkForeignArch(arch, options);
  }
  if (st.state !== 'ready') {
    throw new KilnError(ENV_ERRORS.unavailable, `binfmt ${name} is still ${st.state} after registering it`, {
      hint: `check ${join(dir, name)}; it needs "flags: F" and an existing interpreter (${INSTALL})`,
    });
  }
  return st;
}
