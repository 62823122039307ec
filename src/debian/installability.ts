// Are a source package's build dependencies installable? Checked the way Debian's buildd
// network checks it: with dose-builddebcheck (Debian package dose-builddebcheck) over the
// suite's Packages for the build arch. For a handful of sources kiln hands it only the
// binaries that can take part (binary-closure.ts), which gives the same answer in a
// fraction of the time; for a whole suite it gets the whole index.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';

export const DOSE = '/usr/bin/dose-builddebcheck';

export interface Uninstallable {
  readonly source: string;
  readonly version: string;
  /** What fails, as dose says it: `unsat-dependency: libfoo-dev:amd64 (>= 2)` or `unsat-conflict: …`. */
  readonly reason: string;
}

/** Parse dose-builddebcheck's `-e -f` YAML report (only the parts kiln uses). */
export function parseDoseReport(text: string): Uninstallable[] {
  const out: Uninstallable[] = [];
  let cur: { source?: string; version?: string; broken: boolean; reasons: string[] } | undefined;
  const flush = (): void => {
    if (cur?.broken === true && cur.source !== undefined) {
      out.push({ source: cur.source, version: cur.version ?? '', reason: cur.reasons[0] ?? 'not installable (dose gave no reason)' });
    }
  };
  for (const line of text.split('\n')) {
    if (line === ' -') {
      flush();
      cur = { broken: false, reasons: [] };
      continue;
    }
    if (cur === undefined) continue;
    let m = /^ {2}(package|version|status): (.*)$/.exec(line);
    if (m !== null) {
      if (m[1] === 'package') cur.source = m[2]!.trim();
      else if (m[1] === 'version') cur.version = m[2]!.trim();
      else cur.broken = m[2]!.trim() === 'broken';
      continue;
    }
    m = /^\s+(unsat-dependency|unsat-conflict): (.*)$/.exec(line);
    if (m !== null) cur.reasons.push(`${m[1]}: ${m[2]!.trim()}`);
    if (/^\S/.test(line)) {
      flush();
      cur = undefined;
    }
  }
  flush();
  return out;
}

export type CheckOptions = CheckInput & (
  /** Packages text (reduced to the closure), written to a temporary file. */
  | { readonly packages: string; readonly packagesPaths?: undefined }
  /** Packages files as they are (the whole suite's verified index; with --cross, the build arch's and the host arch's). */
  | { readonly packagesPaths: readonly string[]; readonly packages?: undefined }
);

interface CheckInput {
  /** Sources stanzas to check (text, or the bytes as they are). */
  readonly sources: string | Uint8Array;
  /** dose's native arch (the build arch). */
  readonly arch: string;
  /** A cross build's host arch (--deb-host-arch); undefined: a native build. */
  readonly hostArch?: string;
  readonly profiles?: readonly string[];
  /** Leave out Build-Depends-Indep (a -B build) or Build-Depends-Arch (a -A build), as buildds do. */
  readonly drop?: 'indep' | 'arch';
  readonly signal?: AbortSignal;
  /** Called once dose-builddebcheck has been started (its input written). */
  readonly onStart?: () => void;
}

export function doseMissing(): string | undefined {
  return existsSync(DOSE) ? undefined : `${DOSE} is not installed (Debian package dose-builddebcheck; scripts/setup.sh installs it)`;
}

export async function checkInstallable(o: CheckOptions): Promise<Uninstallable[]> {
  const missing = doseMissing();
  if (missing !== undefined) throw new KilnError('tool-missing', missing, { hint: 'run `bash scripts/setup.sh`, or apt-get install dose-builddebcheck' });
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dose-'));
  try {
    const pks: string[] = [];
    const src = join(dir, 'Sources');
    // dose rejects a file whose last line has no newline ("RFC 822 parse error").
    if (o.packages !== undefined) {
      pks.push(join(dir, 'Packages'));
      await writeFile(pks[0]!, o.packages.endsWith('\n') ? o.packages : `${o.packages}\n`);
    } else {
      for (const [i, path] of o.packagesPaths.entries()) {
        if (await endsWithNewline(path)) pks.push(path);
        else {
          pks.push(join(dir, `Packages.${i}`));
          await writeFile(pks[i]!, `${await readFile(path, 'utf8')}\n`);
        }
      }
    }
    if (typeof o.sources === 'string') await writeFile(src, o.sources.endsWith('\n') ? o.sources : `${o.sources}\n`);
    else await writeFile(src, o.sources.at(-1) === 10 ? o.sources : Buffer.concat([o.sources, Buffer.from('\n')]));
    const args = [`--deb-native-arch=${o.arch}`, ...(o.hostArch === undefined ? [] : [`--deb-host-arch=${o.hostArch}`]), '-e', '-f'];
    if (o.profiles !== undefined && o.profiles.length > 0) args.push(`--deb-profiles=${o.profiles.join(',')}`);
    if (o.drop === 'indep') args.push('--deb-drop-b-d-indep');
    if (o.drop === 'arch') args.push('--deb-drop-b-d-arch');
    args.push(...pks, src);
    const { code, stdout, stderr } = await run(DOSE, args, o.signal, o.onStart);
    // dose exits 1 when something is broken; anything else non-zero is its own failure.
    if (code !== 0 && code !== 1) {
      throw new KilnError('tool-failed', `dose-builddebcheck failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`, { hint: 'check that `dose-builddebcheck --version` runs (reinstall it: apt-get install dose-builddebcheck); if it does, report its stderr above; --no-install-check builds without the check' });
    }
    return parseDoseReport(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function endsWithNewline(path: string): Promise<boolean> {
  await using f = await open(path, 'r');
  const { size } = await f.stat();
  if (size === 0) return true;
  const { buffer } = await f.read({ buffer: Buffer.alloc(1), position: size - 1 });
  return buffer[0] === 10;
}

function run(cmd: string, args: string[], signal: AbortSignal | undefined, onStart: (() => void) | undefined): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal === undefined ? {} : { signal }) });
    onStart?.();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}
