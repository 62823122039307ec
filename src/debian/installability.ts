// Are a source package's build dependencies installable? Checked the way Debian's buildd
// network checks it: with dose-builddebcheck (Debian package dose-builddebcheck) over the
// suite's Packages for the build arch. For a handful of sources kiln hands it only the
// binaries that can take part (binary-closure.ts), which gives the same answer in a
// fraction of the time; for a whole suite it gets the whole index.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

export interface CheckOptions {
  /** Packages text (whole, or reduced to the closure). */
  readonly packages: string;
  /** Sources stanzas to check. */
  readonly sources: string;
  readonly arch: string;
  readonly profiles?: readonly string[];
  /** Leave out Build-Depends-Indep (a -B build) or Build-Depends-Arch (a -A build), as buildds do. */
  readonly drop?: 'indep' | 'arch';
  readonly signal?: AbortSignal;
}

export function doseMissing(): string | undefined {
  return existsSync(DOSE) ? undefined : `${DOSE} is not installed (Debian package dose-builddebcheck; scripts/setup.sh installs it)`;
}

export async function checkInstallable(o: CheckOptions): Promise<Uninstallable[]> {
  const missing = doseMissing();
  if (missing !== undefined) throw new KilnError('tool-missing', missing, { hint: 'run `bash scripts/setup.sh`, or apt-get install dose-builddebcheck' });
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dose-'));
  try {
    const pk = join(dir, 'Packages');
    const src = join(dir, 'Sources');
    // dose rejects a file whose last line has no newline ("RFC 822 parse error").
    await writeFile(pk, o.packages.endsWith('\n') ? o.packages : `${o.packages}\n`);
    await writeFile(src, o.sources.endsWith('\n') ? o.sources : `${o.sources}\n`);
    const args = [`--deb-native-arch=${o.arch}`, '-e', '-f'];
    if (o.profiles !== undefined && o.profiles.length > 0) args.push(`--deb-profiles=${o.profiles.join(',')}`);
    if (o.drop === 'indep') args.push('--deb-drop-b-d-indep');
    if (o.drop === 'arch') args.push('--deb-drop-b-d-arch');
    args.push(pk, src);
    const { code, stdout, stderr } = await run(DOSE, args, o.signal);
    // dose exits 1 when something is broken; anything else non-zero is its own failure.
    if (code !== 0 && code !== 1) {
      throw new KilnError('tool-failed', `dose-builddebcheck failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`, { hint: 'run it by hand on the same indexes to see why' });
    }
    return parseDoseReport(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], signal: AbortSignal | undefined): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal === undefined ? {} : { signal }) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}
