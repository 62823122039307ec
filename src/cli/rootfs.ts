// kiln rootfs OUT PKG...: the target root filesystem made of built packages (a riscv64
// build script's target-rootfs/, BitBake's core-image): the named packages of the state
// dir's package index and their runtime depends, unpacked into a fresh root
// (src/rootfs/: closure.ts chooses, install.ts installs).

import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEFAULT_SOURCE_DATE_EPOCH } from '../execute/build-env.ts';
import { isKilnError, KilnError } from '../errors.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { hostArch } from '../run/host-env.ts';
import { selectClosure } from '../rootfs/closure.ts';
import { installRoot, INSTALLED_JSON } from '../rootfs/install.ts';
import { missingText } from '../rootfs/libraries.ts';
import { readIndexPackages } from '../rootfs/read-index.ts';
import type { CliContext } from './main.ts';
import { withInterrupt } from './interrupt.ts';
import { checkMirrorUrl, layoutFrom, parseArchList } from './options.ts';

interface RootfsOpts {
  state?: string;
  arch?: string;
  tar?: boolean;
  force?: boolean;
  json?: boolean;
  debian?: string;
  variant: string;
  mirror?: string;
  /** false with --no-check-valid-until (commander's negated option). */
  checkValidUntil: boolean;
}

/** A Debian package name for apt (`name`, `name=version`, `name:arch`): nothing mmdebstrap's --include would split or read otherwise. */
const DEB_PACKAGE_RE = /^[a-z0-9][a-z0-9+.:=~-]*$/;
const SUITE_RE = /^[a-z][a-z0-9.-]*$/;

/** What an interrupted rootfs says it left. */
const NOTHING_LEFT = 'nothing was left at the output path';

/** The state dir and the cache: OUT must be none of them, nor in or around them (--force would remove them). */
function keptDirs(state: { root: string; cache: string }): { path: string; what: string }[] {
  return [{ path: state.root, what: 'the state directory' }, { path: state.cache, what: 'the cache' }];
}

/** --arch of a root: parseArchList's checks, with a hint for one arch (a root is for one machine). */
function rootArch(text: string): string[] {
  try {
    return parseArchList(text);
  } catch (e) {
    if (!isKilnError(e)) throw e;
    const near = /did you mean "([^"]+)"\?/.exec(e.hint ?? '')?.[1];
    throw new KilnError('usage', e.message.replace(' (e.g. amd64,riscv64)', ''), { hint: `${near === undefined ? '' : `did you mean "${near}"? `}give the root's one Debian architecture name, lowercase: amd64, arm64, armhf, i386, riscv64… (e.g. --arch riscv64)` });
  }
}

/** SOURCE_DATE_EPOCH from the environment (whole seconds), else kiln's default. */
export function sourceDateEpochOf(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['SOURCE_DATE_EPOCH'];
  if (text === undefined || text === '') return DEFAULT_SOURCE_DATE_EPOCH;
  if (!/^\d{1,11}$/.test(text)) {
    throw new KilnError('usage', `SOURCE_DATE_EPOCH: "${text}" is not a whole number of seconds since 1970`, { hint: 'set it to e.g. 1700000000, or unset it for kiln\'s default' });
  }
  return Number(text);
}

export function registerRootfs(program: Command, ctx: CliContext): void {
  program
    .command('rootfs')
    .description('make a root filesystem of built packages and their runtime depends (from STATE/packages/index.json)')
    .argument('<out>', 'the root directory to make (must not exist, unless --force), or with --tar the .tar.zst file')
    .argument('<packages...>', 'package names or globs (\'lib*\'), as kiln build\'s targets')
    .option('--state <dir>', 'state directory (default: $KILN_STATE, else .kiln)')
    .option('--arch <arch>', `the root's architecture (default: the host's, ${hostArch()}); "all" packages count for every arch`)
    .option('--tar', 'make OUT a reproducible .tar.zst of the root (owners root:root, sorted, mtime SOURCE_DATE_EPOCH)')
    .option('--force', 'replace OUT when it exists')
    .option('--json', 'print the result as JSON')
    .option('--debian <suite>', 'a Debian root instead: mmdebstrap of SUITE from the host\'s mirror plus STATE/repo (kiln\'s signed repository), with the named packages')
    .option('--variant <name>', 'with --debian: mmdebstrap\'s variant, minbase or apt', 'minbase')
    .option('--mirror <url>', 'with --debian: the Debian mirror (default: the host\'s apt sources\' one)')
    .option('--no-check-valid-until', 'with --debian: take the suite\'s Release past its Valid-Until (a snapshot mirror frozen on purpose)')
    .action(async (out: string, targets: string[], opts: RootfsOpts) => {
      // An unset shell variable (`kiln rootfs "$OUT" …`) must not mean the current folder.
      if (out.trim() === '') throw new KilnError('usage', 'OUT is empty: name the root folder to make (or the .tar.zst file with --tar)', { hint: 'e.g. kiln rootfs ./rootfs PACKAGE…' });
      const state = layoutFrom(opts.state === undefined ? {} : { state: opts.state });
      const archs = opts.arch === undefined ? [hostArch()] : rootArch(opts.arch);
      if (archs.length !== 1 || archs[0] === 'all') {
        throw new KilnError('usage', `--arch: give one architecture, not "${opts.arch}"`, { hint: 'a root is for one machine: e.g. --arch riscv64 ("all" packages come with any)' });
      }
      const arch = archs[0]!;
      const tarName = out.endsWith('.tar.zst');
      if (opts.tar === true && !tarName) throw new KilnError('usage', `--tar: ${out} does not end in .tar.zst`, { hint: `name the file ${out}.tar.zst` });
      if (opts.tar !== true && tarName) throw new KilnError('usage', `${out} ends in .tar.zst but --tar is not given`, { hint: 'add --tar for a tarball of the root, or name a directory' });
      const sourceDateEpoch = sourceDateEpochOf();
      if (opts.debian !== undefined) return debianRoot(ctx, resolve(out), targets, arch, state, opts, sourceDateEpoch);
      if (opts.variant !== 'minbase' || opts.mirror !== undefined || opts.checkValidUntil === false) {
        throw new KilnError('usage', `${opts.mirror !== undefined ? '--mirror' : opts.checkValidUntil === false ? '--no-check-valid-until' : '--variant'} is for --debian roots only`, { hint: 'add --debian SUITE, or leave the option out' });
      }
      const packages = await readIndexPackages(state.index);
      const selected = selectClosure(packages, targets, arch, state.index);
      const r = await withInterrupt(ctx, (signal) =>
        installRoot({ out: resolve(out), selected, arch, force: opts.force === true, tar: opts.tar === true, sourceDateEpoch, keep: keptDirs(state), signal }), { what: NOTHING_LEFT });
      // What the root's ELF files need and it lacks: warnings on stderr, JSON or not (the JSON has them too: `missing`).
      const warn = (): void => {
        for (const m of r.missing) ctx.stderr.write(`kiln: warning: ${missingText(m)}\n`);
      };
      if (opts.json === true) {
        warn();
        ctx.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const w = (f: (p: (typeof r.packages)[number]) => string): number => Math.max(...r.packages.map((p) => f(p).length));
      const wName = w((p) => p.name);
      const wVersion = w((p) => `${p.version}-${p.release}`);
      const wArch = w((p) => p.arch);
      const wSize = w((p) => humanBytes(p.installedSize));
      for (const p of r.packages) {
        ctx.stdout.write(`  ${p.name.padEnd(wName)}  ${`${p.version}-${p.release}`.padEnd(wVersion)}  ${p.arch.padEnd(wArch)}  ${humanBytes(p.installedSize).padStart(wSize)}  ${p.why}\n`);
      }
      const size = `${humanBytes(r.installedSize)} installed${r.tarSize === undefined ? '' : `, ${humanBytes(r.tarSize)} compressed`}`;
      ctx.stdout.write(`kiln: ${r.packages.length} package(s) for ${arch} in ${r.out}: ${size} (the list is in ${INSTALLED_JSON})\n`);
      warn();
    });
}

async function debianRoot(ctx: CliContext, out: string, packages: readonly string[], arch: string, state: { root: string; cache: string }, opts: RootfsOpts, sourceDateEpoch: number): Promise<void> {
  const suite = opts.debian!;
  if (!SUITE_RE.test(suite)) throw new KilnError('usage', `--debian: "${suite}" is not a suite name`, { hint: 'e.g. --debian bookworm or --debian trixie' });
  if (opts.variant !== 'minbase' && opts.variant !== 'apt') throw new KilnError('usage', `--variant: "${opts.variant}" is not minbase or apt`, { hint: 'minbase (Essential packages and apt, the default) or apt (apt alone)' });
  for (const p of packages) {
    if (!DEB_PACKAGE_RE.test(p)) throw new KilnError('usage', `--debian: "${p}" is not a Debian package name (apt installs the packages; globs are for recipe roots)`, { hint: 'name packages as apt does: name, name=version or name:arch' });
  }
  if (opts.mirror !== undefined) checkMirrorUrl('--mirror', opts.mirror);
  const { makeDebianRoot } = await import('../rootfs/debian.ts');
  const r = await withInterrupt(ctx, (signal) => makeDebianRoot({
    out, packages, suite, arch, variant: opts.variant, stateRoot: state.root, force: opts.force === true, tar: opts.tar === true,
    ...(opts.tar === true ? { sourceDateEpoch } : {}),
    ...(opts.mirror === undefined ? {} : { mirror: opts.mirror }),
    ...(opts.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
    onLine: (line) => ctx.stderr.write(`  ${line}\n`), keep: keptDirs(state), signal,
  }), { what: NOTHING_LEFT });
  const size = (await stat(r.out)).isDirectory() ? '' : ` (${humanBytes((await stat(r.out)).size)})`;
  if (opts.json === true) {
    ctx.stdout.write(`${JSON.stringify({ ...r, suite, arch, packages }, null, 2)}\n`);
    return;
  }
  ctx.stdout.write(`kiln: ${suite}/${arch} (${opts.variant}) with ${packages.join(', ')} in ${r.out}${size}, from ${r.mirror}${r.repo === undefined ? ` (no suite ${suite} in kiln's repository: the mirror alone)` : ` and ${r.repo}`}\n`);
}
