// kiln verify DEB…: is each built .deb bit-identical to the archive's binary of the same
// package, version and architecture? Prints, per .deb, the verdict and (when it differs)
// exactly what differs; --json prints every result with its typed comparison.
// Exit 0 when every .deb is reproducible, 1 otherwise.

import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createDownloads } from '../cache/downloads.ts';
import { hostDebianMirror } from '../config/mirrors.ts';
import { formatComparison } from '../debian/deb-compare.ts';
import { verifyDebs } from '../debian/deb-verify.ts';
import type { VerifyResult } from '../debian/deb-verify.ts';
import { KilnError } from '../errors.ts';
import { checkArchOption } from '../debian/arch-names.ts';
import { hostArch } from '../run/host-env.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, checkMirrorUrl, keyringFileOf, layoutFrom, type StateOptions } from './options.ts';
import { refuseUserinfo } from '../config/credentials.ts';

interface VerifyOpts extends StateOptions {
  suite?: string;
  arch?: string;
  mirror?: string;
  keyring?: string;
  /** --no-check-valid-until: false. */
  checkValidUntil: boolean;
  component: string;
  json?: boolean;
}

/** VERSION_CODENAME of /etc/os-release, if any. */
function hostSuite(): string | undefined {
  try {
    return /^VERSION_CODENAME=["']?([a-z0-9-]+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Text lines for one result (pure). */
export function resultLines(r: VerifyResult): string[] {
  const what = r.identity === undefined ? r.deb : `${r.deb} (${r.identity.package} ${r.identity.version} ${r.identity.architecture})`;
  switch (r.status) {
    case 'reproducible':
    case 'differs': {
      const [first = '', ...rest] = formatComparison(r.comparison!);
      const lines = [`${what}: ${first}`, `  archive: ${r.archive!.url} (${r.archive!.index})`];
      // a/b lines name the files: say which is which.
      return [...lines, ...rest.map((l) => l.replace(/^ {2}a: /, '  a (archive): ').replace(/^ {2}b: /, '  b (ours): '))];
    }
    case 'not-in-archive':
    case 'error': {
      const e = r.error!;
      return [`${what}: ${r.status === 'error' ? 'error' : 'not in the archive'} [${e.code}]: ${e.message}`, ...(e.hint === undefined ? [] : [`  hint: ${e.hint}`])];
    }
    default: {
      const never: never = r.status;
      throw new Error(`unexpected status ${String(never)}`);
    }
  }
}

/** Each path named must be a file: a missing path or a directory is said so before any work (not as dpkg-deb's text). */
export async function checkDebPaths(debs: readonly string[]): Promise<void> {
  for (const deb of debs) {
    let st;
    try {
      st = await stat(deb);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new KilnError('usage', `${deb}: no such file`, { hint: 'check the path: kiln verify takes the .deb files you built' });
      }
      throw new KilnError('usage', `${deb}: cannot be read (${code ?? (e as Error).message})`, { hint: 'check the path and its permissions', cause: e });
    }
    if (st.isDirectory()) {
      throw new KilnError('usage', `${deb}: is a directory; kiln verify takes .deb files`, { hint: `name the files, e.g. \`kiln verify ${deb.replace(/\/+$/, '')}/*.deb\`` });
    }
  }
}

export function registerVerify(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('verify <deb...>')
    .description("compare built .debs with the archive's binaries of the same version: reproducible, or exactly what differs")
    .option('--suite <suite>', 'the suite whose Packages index to look in (default: this host\'s release codename)')
    .option('--arch <arch>', 'the Packages index for Architecture: all packages (default: this machine\'s arch); arch-specific .debs use their own')
    .option('--component <component>', 'archive component', 'main')
    .option('--mirror <url>', "the Debian archive (default: the host's apt sources)")
    .option('--keyring <file>', "the keyring the suite's InRelease must be signed with, binary (.gpg) or ASCII-armoured (.asc) (default: Debian's archive keyring)")
    .option('--no-check-valid-until', "take the suite's Release even past its Valid-Until: a snapshot of the archive frozen on purpose (apt's check-valid-until=no)")
    .option('--json', 'print the results as one JSON document');
  addStateOptions(cmd);
  cmd.action(async (debs: string[], opts: VerifyOpts) => {
    const suite = opts.suite ?? hostSuite();
    if (suite === undefined) throw new KilnError('usage', 'kiln verify: no --suite given and /etc/os-release names no VERSION_CODENAME', { hint: 'pass --suite, e.g. --suite bookworm' });
    if (opts.arch !== undefined) checkArchOption('--arch', opts.arch);
    await checkDebPaths(debs);
    refuseUserinfo('--mirror', opts.mirror);
    checkMirrorUrl('--mirror', opts.mirror);
    const keyring = opts.keyring === undefined ? undefined : keyringFileOf('--keyring', opts.keyring);
    const mirror = opts.mirror ?? (await hostDebianMirror());
    if (mirror === undefined) {
      throw new KilnError('usage', 'kiln verify: no --mirror given and the host\'s apt sources name no Debian mirror', { hint: 'pass --mirror URL (the directory that holds dists/ and pool/)' });
    }
    const state = layoutFrom(opts);
    const downloads = createDownloads({ cacheDir: state.cache, mirrors: {} });
    const controller = new AbortController();
    const onSignal = (sig: NodeJS.Signals): void => controller.abort(new KilnError('cancelled', `interrupted by ${sig}`));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let results: VerifyResult[];
    try {
      results = await verifyDebs(debs, {
        cacheDir: state.cache, downloads, mirror, suite, component: opts.component, ...(keyring === undefined ? {} : { keyring }), ...(opts.checkValidUntil ? {} : { checkValidUntil: false as const }),
        allArch: opts.arch ?? hostArch(), signal: controller.signal,
        onResult: (r) => {
          if (opts.json !== true) ctx.stdout.write(`${resultLines(r).join('\n')}\n`);
        },
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const count = (s: VerifyResult['status']): number => results.filter((r) => r.status === s).length;
    const summary = { reproducible: count('reproducible'), differs: count('differs'), notInArchive: count('not-in-archive'), errors: count('error') };
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify({ suite, mirror, component: opts.component, results, summary }, null, 2)}\n`);
    } else if (results.length > 1) {
      ctx.stdout.write(`kiln verify: ${summary.reproducible} of ${results.length} reproducible, ${summary.differs} differ, ${summary.notInArchive} not in the archive, ${summary.errors} errors\n`);
    }
    ctx.exitCode = summary.reproducible === results.length ? 0 : 1;
  });
}
