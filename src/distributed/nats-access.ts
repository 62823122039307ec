// What kiln connects to NATS with besides the URL (docs/operations.md, "Many machines"): a
// .creds file (a user's JWT and nkey seed, as nsc writes it), an nkey seed file, the CA of
// the server's certificate, and a client certificate with its key (mutual TLS). Flags named
// as the nats CLI's, each with an environment default (as --nats has $KILN_NATS), read and
// checked as the command starts; openCluster hands them to the client (cluster.ts). Light:
// no NATS client here.

import type { Command } from 'commander';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { KilnError } from '../errors.ts';
import { credentialsOf } from './nats-url.ts';

/** The options' names as commander keeps them (`--nats-tls-ca` → natsTlsCa). */
export type NatsAccessKey = 'natsCreds' | 'natsNkey' | 'natsTlsCa' | 'natsTlsCert' | 'natsTlsKey';
export type NatsAccessOptions = Partial<Record<NatsAccessKey, string>>;

export const NATS_ACCESS_OPTIONS: readonly { readonly key: NatsAccessKey; readonly flag: string; readonly env: string; readonly help: string }[] = [
  { key: 'natsCreds', flag: '--nats-creds', env: 'KILN_NATS_CREDS', help: "with --nats: a .creds file (the NATS user's JWT and nkey seed, as nsc writes it)" },
  { key: 'natsNkey', flag: '--nats-nkey', env: 'KILN_NATS_NKEY', help: "with --nats: a file holding the NATS user's nkey seed (SU…)" },
  { key: 'natsTlsCa', flag: '--nats-tls-ca', env: 'KILN_NATS_TLS_CA', help: "with --nats: the CA (PEM) the server's certificate is checked against, instead of the system's; means TLS" },
  { key: 'natsTlsCert', flag: '--nats-tls-cert', env: 'KILN_NATS_TLS_CERT', help: 'with --nats: a client certificate (PEM) for a server that asks for one (mutual TLS), with --nats-tls-key; means TLS' },
  { key: 'natsTlsKey', flag: '--nats-tls-key', env: 'KILN_NATS_TLS_KEY', help: 'with --nats: the private key (PEM, not encrypted) of --nats-tls-cert' },
];

export function addNatsAccessOptions(cmd: Command): Command {
  for (const o of NATS_ACCESS_OPTIONS) cmd.option(`${o.flag} <file>`, `${o.help} (default: $${o.env})`);
  return cmd;
}

/** A file of one option: its path, and whether the command line or the environment gave it. */
export interface AccessFile {
  readonly path: string;
  readonly flag: string;
  /** The environment variable it came from; undefined: the flag. */
  readonly env: string | undefined;
}
export type NatsAccessPaths = Partial<Record<NatsAccessKey, AccessFile>>;

/** Each file: its flag, else its environment variable; an empty value is none (pure). */
export function natsAccessPathsOf(opts: NatsAccessOptions, env: NodeJS.ProcessEnv = process.env): NatsAccessPaths {
  const paths: NatsAccessPaths = {};
  for (const o of NATS_ACCESS_OPTIONS) {
    const given = opts[o.key];
    const path = (given ?? env[o.env] ?? '').trim();
    if (path !== '') paths[o.key] = { path, flag: o.flag, env: given === undefined ? o.env : undefined };
  }
  return paths;
}

/** How an error names a file: its flag and path, and the variable it came from. */
export function fileLabel(f: AccessFile): string {
  return `${f.flag} ${f.path}${f.env === undefined ? '' : ` (from $${f.env})`}`;
}

/**
 * A command run without a NATS URL: the access flags given on its command line are a usage
 * error (they would do nothing); their environment defaults are not looked at (pure).
 */
export function refuseAccessWithoutUrl(paths: NatsAccessPaths): void {
  const flags = Object.values(paths).filter((f) => f.env === undefined).map((f) => f.flag);
  if (flags.length === 0) return;
  throw new KilnError('usage', `${flags.join(', ')} ${flags.length === 1 ? 'applies' : 'apply'} only with --nats URL (or $KILN_NATS): this command does not connect to NATS without one`, {
    hint: `give the NATS server too (--nats tls://HOST:4222), or leave out ${flags.join(', ')}`,
  });
}

/** The files that go together or exclude each other, and the URL's own credentials (pure). */
export function checkAccessPaths(paths: NatsAccessPaths, url: string): void {
  const { natsTlsCert: cert, natsTlsKey: key, natsCreds: creds, natsNkey: nkey } = paths;
  if ((cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert !== undefined ? [fileLabel(cert), '--nats-tls-key'] : [fileLabel(key!), '--nats-tls-cert'];
    throw new KilnError('usage', `--nats-tls-cert and --nats-tls-key go together: ${given} was given without ${missing}`, {
      hint: 'give the client certificate with --nats-tls-cert FILE and its private key with --nats-tls-key FILE (both PEM), or neither',
    });
  }
  if (creds !== undefined && nkey !== undefined) {
    throw new KilnError('usage', `${fileLabel(creds)} and ${fileLabel(nkey)}: both say who kiln is to NATS, choose one`, {
      hint: 'a .creds file (nsc) holds a user JWT with its seed, for a server in operator mode; --nats-nkey a bare seed, for a server that lists the user\'s public key (authorization { users = [ { nkey: U… } ] })',
    });
  }
  const identity = creds ?? nkey;
  const inUrl = credentialsOf(url);
  if (identity !== undefined && Object.keys(inUrl).length > 0) {
    const what = 'token' in inUrl ? 'a token' : 'a user and password';
    throw new KilnError('usage', `${fileLabel(identity)} and ${what} in the NATS URL both say who kiln is to NATS: choose one`, {
      hint: `take the credentials out of the URL (nats://HOST:4222), or leave out ${identity.flag}`,
    });
  }
}

/** What openCluster gives the client: read from the files as the command started. */
export interface NatsAccess {
  /** Who kiln is: a .creds file's user JWT and seed, or a bare nkey seed. */
  readonly identity?: { readonly kind: 'creds'; readonly jwt: string; readonly seed: Uint8Array } | { readonly kind: 'nkey'; readonly seed: Uint8Array };
  /** PEM contents; present (even with none of them) means TLS. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** The files' flags given (for the hints when the server refuses). */
  readonly flags: readonly string[];
}

/**
 * The files read and checked (pairs and conflicts first): a file that is missing, unreadable
 * or not what its flag takes is a usage error naming the flag and the path. Undefined when
 * no file is given.
 */
export function loadNatsAccess(paths: NatsAccessPaths, url: string, read: (path: string) => Buffer = readFileSync): NatsAccess | undefined {
  checkAccessPaths(paths, url);
  if (Object.keys(paths).length === 0) return undefined;
  const text = (f: AccessFile): string => readAccessFile(f, read).toString('utf8');
  const { natsCreds, natsNkey, natsTlsCa, natsTlsCert, natsTlsKey } = paths;
  const identity = natsCreds !== undefined ? { kind: 'creds' as const, ...credsOf(natsCreds, text(natsCreds)) } : natsNkey !== undefined ? { kind: 'nkey' as const, seed: seedOf(natsNkey, text(natsNkey), true) } : undefined;
  const ca = natsTlsCa === undefined ? undefined : text(natsTlsCa);
  if (natsTlsCa !== undefined) certificateOf(natsTlsCa, ca!);
  let cert: string | undefined;
  let key: string | undefined;
  if (natsTlsCert !== undefined && natsTlsKey !== undefined) {
    cert = text(natsTlsCert);
    key = text(natsTlsKey);
    const x509 = certificateOf(natsTlsCert, cert);
    if (!x509.checkPrivateKey(privateKeyOf(natsTlsKey, key))) {
      throw new KilnError('usage', `${fileLabel(natsTlsKey)} is not the private key of ${fileLabel(natsTlsCert)}`, { hint: 'give the key the client certificate was made for (openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY print the same public key)' });
    }
  }
  const tls = ca === undefined && cert === undefined ? undefined : { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key: key! }) };
  return { ...(identity === undefined ? {} : { identity }), ...(tls === undefined ? {} : { tls }), flags: Object.values(paths).map((f) => f.flag) };
}

function readAccessFile(f: AccessFile, read: (path: string) => Buffer): Buffer {
  try {
    return read(f.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'not readable by this user' : code === 'EISDIR' ? 'a folder, not a file' : (e as Error).message;
    throw new KilnError('usage', `${fileLabel(f)}: cannot read it: ${why}`, {
      hint: `give ${f.flag} the path of a file kiln's user can read (a relative path is from the folder kiln runs in)`,
      cause: e,
    });
  }
}

/** An nkey seed: `S` + 57 base32 characters; a user's starts `SU`. */
const SEED_RE = /(?<![A-Z2-7])S[A-Z][A-Z2-7]{56}(?![A-Z2-7])/;
const SEED_KINDS: Readonly<Record<string, string>> = { O: 'an operator', A: 'an account', C: 'a cluster', N: 'a server', X: 'a curve key' };

/** A user's seed in a file's text (a bare line, or a decorated block as in a .creds file); else a usage error (pure). */
export function seedOf(f: AccessFile, text: string, bare: boolean): Uint8Array {
  const m = SEED_RE.exec(text);
  if (m === null) {
    const publicKey = bare && /(?<![A-Z2-7])U[A-Z2-7]{55}(?![A-Z2-7])/.test(text);
    throw new KilnError('usage', `${fileLabel(f)}: ${publicKey ? "holds a user's public key (U…), not its seed" : 'holds no nkey seed'}`, {
      hint: bare
        ? "give the file with the user's seed (SU…, as `nk -gen user` or nsc writes it); its public key (U…) is what the server's configuration lists"
        : 'give the .creds file nsc wrote for the user (nsc generate creds), unchanged',
    });
  }
  if (m[0][1] !== 'U') {
    throw new KilnError('usage', `${fileLabel(f)}: holds the seed of ${SEED_KINDS[m[0][1]!] ?? 'another kind of key'} (S${m[0][1]}…), not of a user (SU…)`, {
      hint: "kiln connects as a NATS user: give that user's seed (nk -gen user, or nsc's creds of the user)",
    });
  }
  return new TextEncoder().encode(m[0]);
}

/** A .creds file: a user's JWT, then its seed, each in a `-----BEGIN …-----` block (pure; CRLF too). */
export function credsOf(f: AccessFile, text: string): { jwt: string; seed: Uint8Array } {
  const blocks = [...text.matchAll(/-{3,}[^\n]*BEGIN[^\n]*-{3,}\r?\n([\s\S]*?)\r?\n\s*-{3,}[^\n]*END[^\n]*-{3,}/g)].map((m) => m[1]!.trim());
  const jwt = blocks.find((b) => /^ey[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(b));
  if (jwt === undefined) {
    throw new KilnError('usage', `${fileLabel(f)}: not a NATS .creds file (no -----BEGIN NATS USER JWT----- block holding a JWT)`, {
      hint: 'give the .creds file nsc wrote for the user (nsc generate creds -a ACCOUNT -n USER), unchanged; a bare nkey seed goes to --nats-nkey',
    });
  }
  return { jwt, seed: seedOf(f, blocks.filter((b) => b !== jwt).join('\n'), false) };
}

function certificateOf(f: AccessFile, pem: string): X509Certificate {
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no -----BEGIN CERTIFICATE----- in it');
    return new X509Certificate(pem);
  } catch (e) {
    throw new KilnError('usage', `${fileLabel(f)}: not a PEM certificate: ${(e as Error).message}`, {
      hint: `give ${f.flag} a certificate in PEM (-----BEGIN CERTIFICATE-----; openssl x509 -in FILE -inform DER -out FILE.pem converts a DER one)`,
      cause: e,
    });
  }
}

function privateKeyOf(f: AccessFile, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    const encrypted = /ENCRYPTED|passphrase/i.test(`${pem.slice(0, 200)} ${(e as Error).message}`);
    throw new KilnError('usage', `${fileLabel(f)}: ${encrypted ? 'an encrypted private key, which kiln cannot ask the passphrase of' : `not a PEM private key: ${(e as Error).message}`}`, {
      hint: encrypted ? 'decrypt it into a file only kiln\'s user can read (openssl pkey -in KEY -out KEY.plain, then chmod 600)' : 'give --nats-tls-key the private key of --nats-tls-cert in PEM (-----BEGIN PRIVATE KEY-----)',
      cause: e,
    });
  }
}

/** The certificate checks of Node's TLS that say the server's certificate is not signed by a CA kiln trusts. */
const UNTRUSTED = /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate/i;

/**
 * Why NATS could not be connected to, as kiln says it: the error's code and the hint for
 * what kiln was given (the access files, TLS asked for or not); `message` is the client's,
 * less Node's advice to start it with --use-system-ca (pure).
 */
export function connectRefusal(e: { message: string; code?: unknown }, access: NatsAccess | undefined, tlsWanted: boolean): { code: 'unauthorized' | 'server-unreachable'; message: string; hint: string } {
  const message = e.message.replace(/; if the root CA is installed locally, try running Node\.js with --use-system-ca/, '');
  const said = `${message} ${typeof e.code === 'string' ? e.code : ''}`;
  const cert = access?.tls?.cert !== undefined;
  const unreachable = (hint: string): { code: 'server-unreachable'; message: string; hint: string } => ({ code: 'server-unreachable', message, hint });
  // The server answered, and refused who we said we are.
  if (/authorization violation|authentication/i.test(said)) {
    const identity = access?.identity;
    const hint = identity?.kind === 'creds'
      ? "the server did not take the user of --nats-creds: its JWT must be signed by an account of the server's operator and not expired (a fresh one: nsc generate creds -a ACCOUNT -n USER)"
      : identity?.kind === 'nkey'
        ? "the server lists no user with the public key of the seed in --nats-nkey (authorization { users = [ { nkey: U… } ] }; `nk -inkey FILE -pubout` prints it)"
        : "give the user and password (or token) its accounts know, in the URL: nats://USER:PASSWORD@HOST:4222 (kiln prints the URL without them), or the user's .creds file (--nats-creds FILE) or nkey seed (--nats-nkey FILE)";
    return { code: 'unauthorized', message, hint };
  }
  if (/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|certificate has expired|certificate is not yet valid/i.test(said)) {
    return unreachable("the server's certificate has expired or is not valid yet (or this machine's clock is off): renew the server's certificate, or set the clock (NTP)");
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i.test(said)) {
    return unreachable("the server's certificate is not for the host in the URL: connect by a name or address its subjectAltName lists (openssl x509 -noout -ext subjectAltName -in CERT)");
  }
  if (UNTRUSTED.test(said)) {
    return unreachable(access?.tls?.ca !== undefined
      ? "the server's certificate is not signed by the CA of --nats-tls-ca: give the CA that signed it (with any intermediate CAs in the same PEM file)"
      : "the server's certificate is not signed by a CA this system trusts: give the CA that signed it with --nats-tls-ca FILE (or $KILN_NATS_TLS_CA)");
  }
  if (/alert|certificate required|bad certificate|unknown ca/i.test(said)) {
    return unreachable(cert
      ? "the server refused kiln's client certificate: give --nats-tls-cert a certificate signed by a CA of the server's tls { ca_file }"
      : 'the server asks for a client certificate (tls { verify: true }): give --nats-tls-cert FILE and --nats-tls-key FILE');
  }
  if (tlsWanted && /timeout/i.test(said)) {
    return unreachable(cert
      ? "the server did not answer after TLS: one that does not trust kiln's client certificate (tls { verify: true }) drops the connection: give --nats-tls-cert a certificate signed by a CA of its tls { ca_file }; else check the URL and that nats-server runs"
      : 'the server did not answer after TLS: one that asks for client certificates (tls { verify: true }) drops a client without one: give --nats-tls-cert FILE and --nats-tls-key FILE; else check the URL and that nats-server runs');
  }
  if (/tls/i.test(said)) {
    return unreachable(access?.tls !== undefined
      ? `${access.flags.filter((f) => f.startsWith('--nats-tls-')).join(' and ')} ask for TLS and the server does not speak it: leave them out for a plain server, or set up TLS in nats-server (tls { cert_file, key_file })`
      : 'the URL says tls:// and the server does not speak TLS (or the other way round): give nats:// for a plain server, or set up TLS in nats-server (kiln checks its certificate against the system CAs, or those of --nats-tls-ca)');
  }
  return unreachable('check the URL (nats://HOST:4222) and that nats-server runs with JetStream (nats-server -js)');
}

/**
 * A command's access files (flags, else environment) for its NATS URL, read and checked;
 * without a URL, the flags given are a usage error and the environment's are not looked at.
 */
export function natsAccessOf(opts: NatsAccessOptions, url: string | undefined, env: NodeJS.ProcessEnv = process.env): NatsAccess | undefined {
  const paths = natsAccessPathsOf(opts, env);
  if (url === undefined) {
    refuseAccessWithoutUrl(paths);
    return undefined;
  }
  const access = loadNatsAccess(paths, url);
  for (const w of looseSecretFiles(paths, (p) => statSync(p, { throwIfNoEntry: false })?.mode)) process.stderr.write(`kiln: warning: ${w}\n`);
  return access;
}

/**
 * The secret files (a .creds file, an nkey seed, a TLS key) that other users may read, as
 * ssh says of a private key: said, not refused (pure; `modeOf` gives a file's mode).
 */
export function looseSecretFiles(paths: NatsAccessPaths, modeOf: (path: string) => number | undefined): string[] {
  const out: string[] = [];
  for (const f of [paths.natsCreds, paths.natsNkey, paths.natsTlsKey]) {
    if (f === undefined) continue;
    const mode = modeOf(f.path);
    if (mode === undefined || (mode & 0o077) === 0) continue;
    out.push(`${fileLabel(f)} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): it holds a secret of kiln's NATS user; chmod 600 it`);
  }
  return out;
}
