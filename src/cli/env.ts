// kiln env create | import | update | list | destroy: the base environments builds run in.

import type { Command } from 'commander';
import { KilnError, isKilnError } from '../errors.ts';
import { checkEnvName, isEnvName } from '../envs/names.ts';
import { checkArchOption } from '../debian/arch-names.ts';
import { createEnvStore } from '../envs/env-store.ts';
import type { EnvInfo, EnvStore, Variant } from '../envs/env-types.ts';
import type { CliContext } from './main.ts';
import { withInterrupt } from './interrupt.ts';
import { addStateOptions, checkMirrorUrl, formatMs, humanBytes, keyringFileOf, layoutFrom, type StateOptions } from './options.ts';
import { registerEnvShell } from './env-shell.ts';
import { refuseUserinfo } from '../config/credentials.ts';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { compressionOf } from '../lib/decompress.ts';

const MAX_LINE = 400;

const VARIANTS: readonly Variant[] = ['buildd', 'minbase', 'apt', 'essential', 'required', 'important', 'standard'];

function parseIncludes(list: readonly string[] | undefined): string[] {
  return (list ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * checkEnvName, with a better hint when the name holds braces: `{arch}` is a template that
 * `kiln build --env` (and `env` in kiln.toml) expands per target architecture; an env's own
 * name cannot hold one, so each architecture gets its env.
 */
export function checkNewEnvName(name: string, arch?: string): void {
  try {
    checkEnvName(name);
  } catch (e) {
    if (!isKilnError(e) || !/[{}]/.test(name)) throw e;
    const expanded = arch === undefined ? undefined : name.replace(/\{arch\}/gi, arch);
    const example = expanded !== undefined && isEnvName(expanded) ? `: here \`kiln env create ${expanded} … --arch ${arch}\`` : '';
    throw new KilnError(e.code, e.message, {
      hint: `names cannot hold braces; \`{arch}\` is expanded where an env is chosen (\`kiln build --env 'bookworm-{arch}'\`, \`env\` in kiln.toml), so make one env per architecture${example}`,
      cause: e,
    });
  }
}

/**
 * Refuses a file that is plainly not a root tarball before the env store reads it: neither
 * compressed (zstd, xz, gzip, bzip2) nor a tar (its first header says "ustar" at byte 257).
 * A file that cannot be read is left to the store, which says why.
 */
export async function checkRootTarball(file: string): Promise<void> {
  const head = Buffer.alloc(512);
  let got: number;
  try {
    await using fh = await open(file, 'r');
    got = (await fh.read(head, 0, 512, 0)).bytesRead;
  } catch {
    return;
  }
  if (got >= 4 && compressionOf(head) !== 'none') return;
  if (got === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') return;
  throw new KilnError('usage', `${file}: not a root tarball: neither a tar archive nor a zstd, xz, gzip or bzip2 compressed one`, {
    hint: 'give a root file system packed with tar, e.g. `tar -C ROOT --numeric-owner -caf root.tar.zst .` (or made by mmdebstrap)',
  });
}

function summary(e: EnvInfo): string {
  return `${e.name}: ${e.suite} ${e.arch}, version ${e.versionId}, ${humanBytes(e.sizeBytes)} (id ${e.id})`;
}

export function registerEnv(program: Command, ctx: CliContext): void {
  const env = program.command('env').description('base environments: the clean Debian roots builds run in');
  const out = (s: string): void => void ctx.stdout.write(s);
  // Another kiln making, updating, … the same env holds its lock, maybe for minutes: say so.
  const storeOf = (opts: StateOptions): EnvStore => createEnvStore({ stateDir: layoutFrom(opts).root, onLockWait: (m) => void ctx.stderr.write(`kiln: ${m}\n`) });
  // mmdebstrap prints whole dpkg command lines on failure: keep each progress line readable.
  const progress = (tag: string) => (line: string): void => {
    if (line.trim() === '') return;
    out(`  ${tag}| ${line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line}\n`);
  };

  const create = env
    .command('create <name>')
    .description('make a base root with mmdebstrap (variant buildd: build-essential included)')
    .requiredOption('--suite <suite>', 'Debian suite, e.g. bookworm, trixie, unstable')
    .requiredOption('--arch <arch>', 'Debian architecture, e.g. amd64, arm64, riscv64 (foreign ones run through qemu-user-static)')
    .option('--mirror <url>', "the Debian archive to bootstrap from (default: the host's apt sources)")
    .option('--keyring <file>', "the keyring the mirror is signed with, binary (.gpg) or ASCII-armoured (.asc), for a Debian derivative or debian-ports; the env's apt keeps trusting it (default: the host's apt keys)")
    .option('--no-check-valid-until', "take the mirror's Release even past its Valid-Until: a snapshot of the archive frozen on purpose (apt's check-valid-until=no, kept in the env's apt.conf.d for env update)")
    .option('--include <pkgs...>', 'extra packages, comma-separated')
    .option('--variant <variant>', `mmdebstrap variant: ${VARIANTS.join(', ')}`, 'buildd');
  addStateOptions(create);
  create.action(async (name: string, opts: StateOptions & { suite: string; arch: string; mirror?: string; keyring?: string; checkValidUntil: boolean; include?: string[]; variant: string }) => {
    if (!VARIANTS.includes(opts.variant as Variant)) throw new KilnError('usage', `--variant: "${opts.variant}" is not one of ${VARIANTS.join(', ')}`);
    checkNewEnvName(name, opts.arch);
    refuseWithoutRoot('create');
    const store = storeOf(opts);
    const started = performance.now();
    // Said once the store has checked everything (name, suite, arch, a free name) and
    // mmdebstrap speaks: a refused create prints only its error.
    let announced = false;
    const bootstrapLine = progress('mmdebstrap');
    const onOutput = (line: string): void => {
      if (!announced) out(`kiln: creating env ${name} (${opts.suite} ${opts.arch})\n`);
      announced = true;
      bootstrapLine(line);
    };
    refuseUserinfo('--mirror', opts.mirror);
    checkMirrorUrl('--mirror', opts.mirror);
    const keyring = opts.keyring === undefined ? undefined : await checkedKeyring(opts.keyring);
    // A name that is no Debian arch at all gets its did-you-mean first, with no fetch.
    checkArchOption('--arch', opts.arch);
    const checkValidUntil = opts.checkValidUntil ? {} : { checkValidUntil: false as const };
    await checkSuiteHasArch({ suite: opts.suite, arch: opts.arch, mirror: opts.mirror, keyring, cacheDir: layoutFrom(opts).cache, ...checkValidUntil });
    const e = await withInterrupt(ctx, (signal) =>
      store.create(name, {
        suite: opts.suite, arch: opts.arch, mirror: opts.mirror, ...(keyring === undefined ? {} : { keyring }), ...checkValidUntil, include: parseIncludes(opts.include),
        variant: opts.variant as Variant, signal, onOutput,
      }),
    );
    out(`kiln: created ${summary(e)} in ${formatMs(performance.now() - started)}\n`);
  });

  const imp = env
    .command('import <name> <file>')
    .description('make a base env from a root tarball (.tar, .tar.zst, .tar.xz, .tar.gz)')
    .option('--suite <suite>', "the root's suite (default: read from its /etc/os-release)")
    .option('--arch <arch>', "the root's architecture (default: read from its dpkg database)");
  addStateOptions(imp);
  imp.action(async (name: string, file: string, opts: StateOptions & { suite?: string; arch?: string }) => {
    checkNewEnvName(name, opts.arch);
    refuseWithoutRoot('import');
    await checkRootTarball(file);
    const store = storeOf(opts);
    const started = performance.now();
    const e = await withInterrupt(ctx, (signal) =>
      store.importTarball(name, file, { suite: opts.suite, arch: opts.arch, signal, onOutput: progress('import') }),
    );
    out(`kiln: imported ${summary(e)} in ${formatMs(performance.now() - started)}\n`);
  });

  const exp = env
    .command('export <name> <file>')
    .description("the env's current version as a root tarball (.tar.zst, .tar.xz, .tar.gz, .tar) that kiln env import makes the same version of on another machine (workers, a shared cache)");
  addStateOptions(exp);
  exp.action(async (name: string, file: string, opts: StateOptions) => {
    const store = storeOf(opts);
    const started = performance.now();
    const e = await withInterrupt(ctx, (signal) => store.exportTarball(name, file, { signal, onOutput: progress('export') }));
    const size = (await stat(e.file)).size;
    out(`kiln: exported ${summary(e)} to ${e.file} (${humanBytes(size)}) in ${formatMs(performance.now() - started)}\n` +
      `kiln: on another machine, \`kiln env import ${e.name} ${basename(e.file)}\` makes version ${e.versionId} there (id ${e.id}), the same keys\n`);
  });

  const update = env
    .command('update <name>')
    .description('apt update + dist-upgrade into a new version, and re-make its instance layers over it; running builds keep theirs')
    .option('--instances-only', 'only refresh the instance layers (extra apt sources of kiln.toml [instance]) over the current version');
  addStateOptions(update);
  update.action(async (name: string, opts: StateOptions & { instancesOnly?: boolean }) => {
    const store = storeOf(opts);
    const started = performance.now();
    const e = await withInterrupt(ctx, (signal) => store.update(name, { signal, onOutput: progress('apt'), instancesOnly: opts.instancesOnly === true }));
    for (const r of e.refreshed) {
      const what = r.error !== undefined ? `FAILED: ${r.error}` : r.before === r.after ? `unchanged (content ${r.after?.slice(0, 12)})` : `content ${r.before?.slice(0, 12) ?? 'none'} -> ${r.after?.slice(0, 12)}`;
      out(`kiln: instance ${r.name} (${r.specHash}): ${what}\n`);
    }
    if (opts.instancesOnly === true) {
      out(`kiln: refreshed ${e.refreshed.length} instance layer(s) of ${summary(e)} in ${formatMs(performance.now() - started)}\n`);
      if (e.refreshed.some((r) => r.error !== undefined)) ctx.exitCode = 1;
      return;
    }
    if (e.unchanged === true) {
      out(`kiln: ${name} is up to date: apt upgraded no package, so ${e.previous} stays its version (nothing built in it is built again) (${formatMs(performance.now() - started)})\n`);
      return;
    }
    out(`kiln: updated ${summary(e)} in ${formatMs(performance.now() - started)}; was ${e.previous}\n`);
    if (e.removed.length > 0) out(`kiln: removed unused versions ${e.removed.join(', ')}\n`);
    const kept = e.versions.filter((v) => v !== e.versionId);
    if (kept.length > 0) out(`kiln: kept ${kept.join(', ')} for running builds\n`);
  });

  const list = env.command('list').description('the environments, their current versions and sizes').option('--json', 'print as JSON');
  addStateOptions(list);
  list.action(async (opts: StateOptions & { json?: boolean }) => {
    const damaged: string[] = [];
    const envs = await storeOf(opts).list({
      onDamaged: (name, e) => {
        damaged.push(name);
        ctx.stderr.write(`kiln: env ${name} cannot be read: ${e.message}\n  hint: ${e.hint ?? ''}\n`);
      },
    });
    if (damaged.length > 0) ctx.exitCode = 1;
    if (opts.json) {
      out(`${JSON.stringify(envs, null, 2)}\n`);
      return;
    }
    if (envs.length === 0) {
      out('no environments; make one with kiln env create NAME --suite SUITE --arch ARCH\n');
      return;
    }
    const rows = [['NAME', 'SUITE', 'ARCH', 'VERSION', 'SIZE', 'CREATED', 'UPDATED', 'IN USE']];
    const day = (iso: string): string => iso.replace('T', ' ').slice(0, 16);
    for (const e of envs) {
      rows.push([e.name, e.suite, e.arch, e.versionId, humanBytes(e.sizeBytes), day(e.createdAt), day(e.updatedAt), String(e.leases.length)]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    for (const r of rows) out(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
    for (const e of envs) {
      for (const i of e.instances) out(`  ${e.name} instance ${i.name} (${i.specHash}): layer ${i.layerId}, ${humanBytes(i.sizeBytes)}, id ${i.id}\n`);
    }
  });

  const destroy = env.command('destroy <name>').description('remove an environment and all its versions (refused while builds use it)');
  addStateOptions(destroy);
  destroy.action(async (name: string, opts: StateOptions) => {
    await storeOf(opts).destroy(name);
    out(`kiln: destroyed env ${name}\n`);
  });
  registerEnvShell(env, ctx);
}

/**
 * Before mmdebstrap runs for minutes: an arch the suite's Release does not list (bookworm
 * has no riscv64) is a usage error naming the suite's archs, as kiln plan says it. Anything
 * else that goes wrong reading the Release (the network, a derivative's keyring) is left to
 * mmdebstrap to say.
 */
async function checkSuiteHasArch(o: { suite: string; arch: string; mirror: string | undefined; keyring: string | undefined; checkValidUntil?: false; cacheDir: string }): Promise<void> {
  const mirror = o.mirror ?? (await (await import('../config/mirrors.ts')).hostDebianMirror());
  if (mirror === undefined) return;
  const { createIndexes } = await import('../debian/indexes.ts');
  const release = await createIndexes({ cacheDir: o.cacheDir, ...(o.keyring === undefined ? {} : { keyring: o.keyring }), ...(o.checkValidUntil === false ? { checkValidUntil: false } : {}) }).release(mirror.replace(/\/+$/, ''), o.suite).catch(() => undefined);
  const archs = release?.release.architectures.filter((a) => a !== 'all') ?? [];
  if (archs.length === 0 || archs.includes(o.arch)) return;
  throw new KilnError('usage', `--arch: ${o.suite} has no ${o.arch}: it has ${archs.join(' ')}`, {
    hint: o.arch === 'riscv64' && ['bullseye', 'bookworm'].includes(o.suite) ? 'riscv64 is a Debian release arch from trixie on: --suite trixie (or unstable)' : 'give an arch the suite has, or another suite',
  });
}

/**
 * --keyring of env create: a file (keyringFileOf) holding OpenPGP keys, read by the reader the
 * InRelease check uses (loaded only here: it brings OpenPGP); else a usage error naming it.
 */
async function checkedKeyring(file: string): Promise<string> {
  const path = keyringFileOf('--keyring', file);
  const { readKeyring } = await import('../debian/inrelease.ts');
  await readKeyring(path).catch((e: unknown) => {
    throw new KilnError('usage', `--keyring ${file}: ${(e as Error).message}`, { hint: 'name the keyring the mirror is signed with: a binary keyring (.gpg) or an ASCII-armoured key (.asc), as apt\'s signed-by takes', cause: e });
  });
  return path;
}

/**
 * Making an env takes root: mmdebstrap runs in a private mount and PID namespace, and the
 * root's files keep their owners (root, _apt, man…), which a user without root cannot give.
 * Said up front, with the way that works, instead of unshare's "Operation not permitted".
 */
export function refuseWithoutRoot(verb: 'create' | 'import', uid = process.getuid?.()): void {
  if (uid === undefined || uid === 0) return;
  throw new KilnError('usage', `kiln env ${verb} needs root: the env's files keep their owners (root, _apt, man…), which a user without root cannot give`, {
    hint: 'have root make the env once in a shared folder (KILN_ENVS=/srv/kiln-envs kiln env create …, readable by all): the rootless sandbox builds kiln recipes in envs root made',
  });
}
