// kiln key create | export: kiln's own OpenPGP key, which signs the apt repositories it
// publishes. The key lives in STATE/keys/ (see src/publish/signing.ts).

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lstat, readdir, writeFile } from 'node:fs/promises';
import { atomicWrite } from '../lib/atomic-write.ts';
import { KilnError } from '../errors.ts';
import { pathErrorOf } from '../path-error.ts';
import { createSigningKey, DEFAULT_KEY_NAME, exportPublicKey, loadSigningKey } from '../publish/signing.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, type StateOptions } from './options.ts';

interface CreateOpts extends StateOptions {
  name: string;
  email?: string;
  force?: boolean;
}

interface ExportOpts extends StateOptions {
  armor?: boolean;
  binary?: boolean;
  output?: string;
}

/**
 * A part of the key's user id (`NAME <EMAIL>`): not empty, one line, and without the
 * `<`, `>` that delimit the address (gpg and apt would show a garbled or empty user id).
 */
export function checkUserIdPart(flag: string, text: string): void {
  const problem = text.trim() === '' ? 'is empty' : /[\x00-\x1f\x7f]/.test(text) ? 'holds a control character (a newline?)' : /[<>]/.test(text) ? 'holds "<" or ">", which delimit the e-mail address' : undefined;
  if (problem === undefined) return;
  const example = flag === '--name' ? `${flag} "Example Builds"` : `${flag} builds@example.org`;
  throw new KilnError('usage', `${flag}: ${JSON.stringify(text)} ${problem}`, { hint: `give one line of text for the key's user id, e.g. ${example}${flag === '--name' ? ` (or leave --name out for "${DEFAULT_KEY_NAME}")` : ''}` });
}

export function registerKey(program: Command, ctx: CliContext): void {
  const key = program.command('key').description("kiln's OpenPGP key that signs its apt repositories");

  const create = key
    .command('create')
    .description('make the signing key (Ed25519, v4: what Debian 12 apt/gpgv verify) and store it in STATE/keys/')
    .option('--name <name>', 'the name in the key\'s user id', DEFAULT_KEY_NAME)
    .option('--email <address>', 'the e-mail address in the key\'s user id')
    .option('--force', 'replace an existing key (repositories signed with the old one must be published again)');
  addStateOptions(create);
  create.action(async (opts: CreateOpts) => {
    checkUserIdPart('--name', opts.name);
    if (opts.email !== undefined) checkUserIdPart('--email', opts.email);
    const state = layoutFrom(opts);
    const k = await createSigningKey(state.root, opts.email === undefined ? { name: opts.name } : { name: opts.name, email: opts.email }, {
      force: opts.force === true,
    });
    ctx.stdout.write(`kiln: made signing key ${k.fingerprint}\n  user id ${k.userId}\n  secret  ${k.paths.secret} (mode 0600, keep it private and backed up)\n  public  ${k.paths.public}\n`);
    ctx.stdout.write('  give apt the public key: kiln key export --binary -o /usr/share/keyrings/kiln.gpg\n');
    // The package index of the recipe builds, signed with it from now on (now too, when there is one).
    if (existsSync(state.index)) {
      const { withLock } = await import('../cache/lock.ts');
      const { signPackageIndex } = await import('../publish/package-index-sign.ts');
      await withLock(dirname(state.index), 'index', () => signPackageIndex(state.index, state.root));
      ctx.stdout.write(`  signed the package index: ${state.index}.asc (and every later write of it)\n`);
    }
    // A replaced key: the state's repository stays signed with the old one until each suite is published again.
    const suites = await readdir(join(state.root, 'repo', 'dists')).catch(() => [] as string[]);
    if (opts.force === true && suites.length > 0) {
      ctx.stdout.write(`  ${join(state.root, 'repo')} is still signed with the old key (suites ${suites.join(', ')}): each suite is signed with the new one at its next publish (kiln repo publish --suite SUITE FILE…, a file it already lists will do); until then apt with the new key refuses it\n`);
    }
  });

  const exp = key
    .command('export')
    .description('print the public key: ASCII-armoured (default), or --binary for apt\'s signed-by keyring')
    .option('--armor', 'ASCII-armoured (the default)')
    .option('--binary', 'binary OpenPGP packets (a keyring file for `deb [signed-by=FILE]`)')
    .option('-o, --output <file>', 'write to FILE instead of stdout');
  addStateOptions(exp);
  exp.action(async (opts: ExportOpts) => {
    if (opts.armor === true && opts.binary === true) throw new KilnError('usage', '--armor and --binary exclude each other', { hint: 'give one of them: --armor (the default, for signed-by) or --binary (a .gpg keyring)' });
    const data = exportPublicKey(await loadSigningKey(layoutFrom(opts).root), { armor: opts.binary !== true });
    if (opts.output !== undefined) {
      try {
        // Whole or not at all: a full disk must not leave a truncated keyring (one apt
        // already trusts, say) behind. A device or pipe (/dev/stdout) is written as it is.
        // A link (updated where it points), a bind-mounted file (which a rename cannot
        // replace) or a special file keeps being written in place.
        const st = await lstat(opts.output).catch(() => undefined);
        if (st !== undefined && !st.isFile()) await writeFile(opts.output, data);
        else {
          await atomicWrite(opts.output, data, { mode: st === undefined ? 0o644 : st.mode & 0o7777 }).catch(async (e: unknown) => {
            if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
            await writeFile(opts.output!, data);
          });
        }
      } catch (e) {
        throw pathErrorOf(e, 'cannot write the public key (-o)', opts.output) ?? e;
      }
      return;
    }
    if (opts.binary === true && (ctx.stdout as { isTTY?: boolean }).isTTY === true) {
      throw new KilnError('usage', 'refusing to print a binary key to a terminal', { hint: 'redirect it to a file, or use -o FILE' });
    }
    ctx.stdout.write(data);
  });
}
