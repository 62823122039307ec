// kiln token create TENANT [--admin] [--read-only] | revoke ID|TENANT | list: the daemon's bearer tokens.
// The token is printed once; the records keep only its sha256.

import type { Command } from 'commander';
import { KilnError } from '../errors.ts';
import { existsSync } from 'node:fs';
import { recordsPath } from '../records/db.ts';
import { openServerRecords } from '../records/server-records.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, parseDurationOption, type StateOptions } from './options.ts';

interface CreateOpts extends StateOptions {
  admin?: boolean;
  readOnly?: boolean;
  expires?: number;
}

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('manage the bearer tokens of `kiln serve`');

  const create = token
    .command('create')
    .description('create a token for TENANT and print it (shown only this once)')
    .argument('<tenant>', 'the tenant the token acts for')
    .option('--admin', 'the token sees and controls every tenant\'s builds, and /metrics')
    .option('--read-only', 'the token may look (GET, HEAD) but change nothing: no builds, cancels, retries or uploads (with --admin: sees everything, changes nothing)')
    .option('--expires <duration>', 'the token stops working after this long, e.g. 90d or 12h (default: never)', parseDurationOption('--expires'));
  addStateOptions(create);
  create.action((tenant: string, opts: CreateOpts) => {
    const root = layoutFrom(opts).root;
    // Before a first `kiln serve` this makes the state; a mistyped --state is then said.
    if (!existsSync(recordsPath(root))) ctx.stderr.write(`kiln: ${root} holds no kiln state yet: made it; start kiln serve with --state ${root} for this token to work\n`);
    using records = openServerRecords(root);
    const now = Date.now();
    const expiresAt = opts.expires === undefined ? undefined : now + opts.expires;
    const t = records.createToken(tenant, { admin: opts.admin === true, readOnly: opts.readOnly === true, now, ...(expiresAt === undefined ? {} : { expiresAt }) });
    const until = expiresAt === undefined ? '' : `, valid until ${new Date(expiresAt).toISOString()}`;
    ctx.stderr.write(`kiln: token ${t.id} for tenant ${tenant}${opts.admin === true ? ' (admin)' : ''}${opts.readOnly === true ? ' (read-only)' : ''}${until}; keep it secret, it is not shown again\n`);
    ctx.stdout.write(`${t.token}\n`);
  });

  const revoke = token
    .command('revoke')
    .description('revoke the token with this id, or every token of this tenant')
    .argument('<id-or-tenant>', 'a token id (from `kiln token list`) or a tenant name');
  addStateOptions(revoke);
  revoke.action((what: string, opts: StateOptions) => {
    using records = openServerRecords(existingState(opts));
    const ids = records.revokeTokens(what);
    if (ids.length === 0) {
      throw new KilnError('token-not-found', `no live token has the id or tenant "${what}"`, { hint: 'see `kiln token list`' });
    }
    ctx.stdout.write(`kiln: revoked ${ids.length} token(s): ${ids.join(', ')}\n`);
  });

  const list = token.command('list').description('list tokens (ids, tenants, admin, read-only, last used, expiry, revoked), never the secrets');
  addStateOptions(list);
  list.action((opts: StateOptions) => {
    using records = openServerRecords(existingState(opts));
    for (const t of records.listTokens()) {
      const revoked = t.revokedAt === null ? '' : `  revoked ${new Date(t.revokedAt).toISOString()}`;
      const expires = t.expiresAt === null ? '' : `  ${t.expiresAt <= Date.now() ? 'expired' : 'expires'} ${new Date(t.expiresAt).toISOString()}`;
      // (Null also for a token used only before kiln recorded use, migration 13: not "never".)
      const used = t.lastUsedAt === null ? '  no use recorded' : `  last used ${new Date(t.lastUsedAt).toISOString()}`;
      ctx.stdout.write(`${t.id}  ${t.tenant}${t.admin ? '  admin' : ''}${t.readOnly ? '  read-only' : ''}  created ${new Date(t.createdAt).toISOString()}${used}${expires}${revoked}\n`);
    }
  });
}

/** The state directory of `opts`, refused when it holds no records (a mistyped --state must not make a new one). */
function existingState(opts: StateOptions): string {
  const root = layoutFrom(opts).root;
  if (!existsSync(recordsPath(root))) {
    throw new KilnError('usage', `${root} holds no kiln state (no ${recordsPath(root)}): no tokens there`, { hint: 'give the --state (or KILN_STATE) kiln serve runs with' });
  }
  return root;
}
