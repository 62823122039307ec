// kiln repo publish: add .debs, .udebs and source packages (.dsc) to a signed apt repository (pool +
// dists, swapped in atomically; see src/publish/apt-repo.ts), signed with kiln's key (`kiln key create`);
// kiln repo list and remove: what a suite holds, and taking packages out of it; kiln repo
// rollback: a suite back as it was before its last change.

import type { Command } from 'commander';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../errors.ts';
import { pathErrorOf } from '../path-error.ts';
import { publishRepo } from '../publish/apt-repo.ts';
import { listRepo, removeFromRepo, type ListedPackage } from '../publish/apt-repo-remove.ts';
import { rollbackRepo, type RollbackResult } from '../publish/apt-repo-rollback.ts';
import { loadSigningKey } from '../publish/signing.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, parseArchList, type StateOptions } from './options.ts';

interface PublishOpts extends StateOptions {
  repo?: string;
  suite: string;
  component: string;
  arch?: string;
  origin?: string;
  label?: string;
  byHash: boolean;
  json?: boolean;
}

export const DEFAULT_SUITE = 'kiln';

/**
 * The .deb, .udeb and .dsc files named: files as given (a name ending in .dsc is a source
 * package, any other a .deb or .udeb), directories searched (recursively) for *.deb,
 * *.udeb and *.dsc. (.udebs go with the .debs: publishRepo tells them apart.)
 */
export async function collectPackages(paths: readonly string[]): Promise<{ debs: string[]; dscs: string[] }> {
  const debs: string[] = [];
  const dscs: string[] = [];
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (st === undefined) throw new KilnError('usage', `${p}: no such file or directory`, { hint: 'check the path: name .deb, .udeb or .dsc files, or directories holding them' });
    if (st.isDirectory()) {
      const files = (await readdir(p, { withFileTypes: true, recursive: true })).filter((e) => e.isFile());
      const found = (ext: string): string[] => files.filter((e) => e.name.endsWith(ext)).map((e) => join(e.parentPath, e.name)).sort();
      const [d, s] = [[...found('.deb'), ...found('.udeb')], found('.dsc')];
      if (d.length === 0 && s.length === 0) {
        throw new KilnError('usage', `${p}: has no .deb, .udeb or .dsc files`, {
          hint: 'name .deb or .udeb files, .dsc files (source packages, their files beside them), or directories holding them',
        });
      }
      debs.push(...d);
      dscs.push(...s);
    } else if (p.endsWith('.dsc')) {
      dscs.push(p);
    } else if (!/\.u?deb$/.test(p)) {
      // A .changes, a .buildinfo, a tarball: not a package itself.
      throw new KilnError('usage', `${p}: not a package: kiln repo publish takes .deb, .udeb and .dsc files (or folders holding them)`, {
        hint: p.endsWith('.changes') ? `name the .debs and .dsc the .changes lists, or the folder holding them (e.g. ${dirname(p)})` : 'name .deb or .udeb files, .dsc files (source packages, their files beside them), or directories holding them',
      });
    } else {
      debs.push(p);
    }
  }
  const unique = (list: string[]): string[] => [...new Set(list.map((p) => resolve(p)))];
  return { debs: unique(debs), dscs: unique(dscs) };
}

/**
 * The `file:` URI of a repository directory as a one-line apt source takes it (pure). apt
 * splits the line at blanks, ends it at `#`, reads `[` … `]` and `"` … `"` as one word, and
 * decodes every %XX in it: those bytes (and control characters, `%` itself and non-ASCII
 * ones, as UTF-8) are percent-encoded; `/` and the rest are kept as written.
 */
export function aptFileUri(dir: string): string {
  let out = '';
  for (const byte of Buffer.from(dir, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte <= 0x20 || byte >= 0x7f || '%#"[]'.includes(c) ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : c;
  }
  return `file:${out}`;
}

export function registerRepo(program: Command, ctx: CliContext): void {
  const repo = program.command('repo').description('signed apt repositories of built packages');

  const publish = repo
    .command('publish')
    .description('add .deb and .udeb files and source packages (.dsc with its files), or directories of them, to an apt repository and sign it with kiln\'s key')
    .argument('<packages...>', '.deb, .udeb and .dsc files, or directories searched for *.deb, *.udeb and *.dsc')
    .option('--repo <dir>', 'the repository directory (default: STATE/repo)')
    .option('--suite <name>', 'the suite (dists/SUITE)', DEFAULT_SUITE)
    .option('--component <name>', 'the component', 'main')
    .option('--arch <list>', 'architectures to index even without packages of their own, e.g. amd64,riscv64')
    .option('--origin <text>', 'Release Origin (default: the suite\'s own, else kiln)')
    .option('--label <text>', 'Release Label (default: the suite\'s own, else kiln)')
    .option('--no-by-hash', 'do not serve indexes by hash (Acquire-By-Hash)')
    .option('--json', 'print the result as JSON');
  addStateOptions(publish);
  publish.action(async (paths: string[], opts: PublishOpts) => {
    const state = layoutFrom(opts);
    // The input first: a missing or empty .deb folder is the mistake to fix, key or no key.
    const { debs, dscs } = await collectPackages(paths);
    const architectures = opts.arch === undefined ? undefined : parseArchList(opts.arch);
    const key = await loadSigningKey(state.root);
    const repoDir = resolve(opts.repo ?? join(state.root, 'repo'));
    // A --repo under a missing or read-only directory, or over a file, is the user's path.
    const r = await publishRepo({
      repoDir,
      suite: opts.suite,
      component: opts.component,
      debs,
      dscs,
      key,
      ...(architectures === undefined ? {} : { architectures }),
      ...(opts.origin === undefined ? {} : { origin: opts.origin }),
      ...(opts.label === undefined ? {} : { label: opts.label }),
      acquireByHash: opts.byHash,
    }).catch((e: unknown) => {
      throw pathErrorOf(e, `cannot publish to the repository ${repoDir}`) ?? e;
    });
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return;
    }
    for (const p of r.packages) {
      const what = p.outcome === 'replaced' ? `replaced ${p.previous ?? ''}` : p.outcome === 'older' ? `skipped: ${p.previous ?? ''} is newer` : p.outcome;
      ctx.stdout.write(`  ${p.package} ${p.version} ${p.architecture}: ${what}\n`);
    }
    if ((r.poolDeleted?.length ?? 0) > 0) ctx.stdout.write(`  ${r.poolDeleted!.length} pool file(s) neither a suite nor a suite's previous state lists were deleted\n`);
    if (r.poolNotSwept !== undefined) ctx.stderr.write(`kiln: published, but no pool file was deleted: ${r.poolNotSwept.why}; ${r.poolNotSwept.hint}\n`);
    ctx.stdout.write(`kiln: ${r.unchanged === true ? 'nothing new to publish to' : 'published'} ${r.suite}/${r.component} (${r.architectures.join(' ')}) in ${r.repoDir}: ${r.indexed} package(s) listed${r.unchanged === true ? ', the repository left as it was' : ''}\n`);
    const uri = aptFileUri(r.repoDir);
    ctx.stdout.write(`  apt source: deb [signed-by=KEYFILE] ${uri} ${r.suite} ${r.component}\n`);
    if (r.packages.some((p) => p.filename.endsWith('.udeb'))) ctx.stdout.write(`  apt source (debian-installer): deb [signed-by=KEYFILE] ${uri} ${r.suite} ${r.component}/debian-installer\n`);
    if (r.packages.some((p) => p.architecture === 'source')) ctx.stdout.write(`  apt source: deb-src [signed-by=KEYFILE] ${uri} ${r.suite} ${r.component}\n`);
  });

  const list = repo
    .command('list')
    .description('list what a suite of the repository holds (every suite without --suite), as reprepro list')
    .option('--repo <dir>', 'the repository directory (default: STATE/repo)')
    .option('--suite <name>', 'one suite (dists/SUITE)')
    .option('--json', 'print the packages as JSON');
  addStateOptions(list);
  list.action(async (opts: StateOptions & { repo?: string; suite?: string; json?: boolean }) => {
    const repoDir = repoDirOf(opts);
    const all = await suitesOf(repoDir);
    if (opts.suite !== undefined && !all.includes(opts.suite)) {
      throw new KilnError('usage', `${repoDir} has no suite "${opts.suite}"`, { hint: `its suites: ${all.join(', ') || '(none yet)'}` });
    }
    const suites = opts.suite !== undefined ? [opts.suite] : all;
    const rows: (ListedPackage & { suite: string })[] = [];
    for (const suite of suites) for (const p of await listRepo(repoDir, suite)) rows.push({ suite, ...p });
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (rows.length === 0) {
      ctx.stdout.write(`kiln: ${repoDir}${opts.suite === undefined ? '' : ` (suite ${opts.suite})`} lists no package\n`);
      return;
    }
    const width = (f: (r: (typeof rows)[number]) => string): number => Math.max(...rows.map((r) => f(r).length));
    const w = [width((r) => `${r.suite}/${r.component}`), width((r) => r.package), width((r) => r.version), width((r) => r.architecture)];
    for (const r of rows) ctx.stdout.write(`${`${r.suite}/${r.component}`.padEnd(w[0]!)}  ${r.package.padEnd(w[1]!)}  ${r.version.padEnd(w[2]!)}  ${r.architecture.padEnd(w[3]!)}  ${r.filename}\n`);
  });

  const remove = repo
    .command('remove')
    .description('take packages out of a suite and sign it again (reprepro remove); pool files go once neither a suite nor its previous state lists them')
    .argument('<packages...>', 'package names: NAME, NAME=VERSION or NAME:ARCH (NAME:source: the source package; a bare NAME: every architecture and the source)')
    .requiredOption('--suite <name>', 'the suite (dists/SUITE)')
    .option('--repo <dir>', 'the repository directory (default: STATE/repo)')
    .option('--json', 'print the result as JSON');
  addStateOptions(remove);
  remove.action(async (specs: string[], opts: StateOptions & { repo?: string; suite: string; json?: boolean }) => {
    const state = layoutFrom(opts);
    const repoDir = repoDirOf(opts);
    const key = await loadSigningKey(state.root);
    const r = await removeFromRepo({ repoDir, suite: opts.suite, specs, key }).catch((e: unknown) => {
      throw pathErrorOf(e, `cannot change the repository ${repoDir}`) ?? e;
    });
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return;
    }
    for (const p of r.removed) ctx.stdout.write(`  removed ${p.package} ${p.version} ${p.architecture}${p.filename.endsWith('.udeb') ? ' (.udeb)' : ''} (${opts.suite}/${p.component})\n`);
    ctx.stdout.write(`kiln: ${opts.suite} of ${repoDir} lists ${r.indexed} package(s) now; ${r.poolDeleted.length} pool file(s) neither a suite nor a suite's previous state lists were deleted\n`);
  });

  const rollback = repo
    .command('rollback')
    .description('put a suite back as it was before its last change (publish, remove or rollback: a second rollback redoes), signed again')
    .requiredOption('--suite <name>', 'the suite (dists/SUITE)')
    .option('--repo <dir>', 'the repository directory (default: STATE/repo)')
    .option('--json', 'print the result as JSON');
  addStateOptions(rollback);
  rollback.action(async (opts: StateOptions & { repo?: string; suite: string; json?: boolean }) => {
    const state = layoutFrom(opts);
    const repoDir = repoDirOf(opts);
    const key = await loadSigningKey(state.root);
    const r = await rollbackRepo({ repoDir, suite: opts.suite, key }).catch((e: unknown) => {
      throw pathErrorOf(e, `cannot change the repository ${repoDir}`) ?? e;
    });
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return;
    }
    for (const line of rollbackLines(r)) ctx.stdout.write(`  ${line}\n`);
    ctx.stdout.write(`kiln: rolled back ${r.suite} of ${repoDir}: ${r.indexed} package(s) listed, as before its last change (a second \`kiln repo rollback\` goes forward again)\n`);
  });
}

/** `restored hello 2.10-3 amd64 (was 2.10-4)`, `removed foo 1.0 amd64`: one line per change (pure). */
export function rollbackLines(r: Pick<RollbackResult, 'suite' | 'changes'>): string[] {
  return r.changes.map((c) => {
    const udeb = c.filename.endsWith('.udeb') ? ' (.udeb)' : '';
    const was = c.previous === undefined ? '' : c.previous === c.version ? ` (was another build of ${c.previous})` : ` (was ${c.previous})`;
    return `${c.outcome} ${c.package} ${c.version} ${c.architecture}${udeb}${was} (${r.suite}/${c.component})`;
  });
}

function repoDirOf(opts: StateOptions & { repo?: string }): string {
  return resolve(opts.repo ?? join(layoutFrom(opts).root, 'repo'));
}

/** The suites of a repository's live tree; a directory that is no repository (a mistyped --repo) is a usage error. */
async function suitesOf(repoDir: string): Promise<string[]> {
  const entries = await readdir(join(repoDir, 'dists'), { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') {
      throw new KilnError('usage', `${repoDir}: no apt repository there (no dists/)`, {
        hint: 'kiln publishes into STATE/repo (a Debian build, or kiln repo publish); give --repo the directory of one, or --state the state directory',
      });
    }
    throw e;
  });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}
