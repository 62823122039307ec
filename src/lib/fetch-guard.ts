// Where a daemon's downloads may go. A tenant's tree names urls (recipe sources, [mirrors],
// a Debian mirror or extra repository) that kiln serve fetches on its own machine, outside
// any sandbox: without a guard, a tenant could have the daemon read an address only that
// machine reaches (its loopback, the cloud's metadata service, the office network) and get
// the bytes back through a build (server-side request forgery).
//
// So on a daemon every fetch connects only to public addresses, except to the hosts of the
// daemon's own mirrors (its apt sources' and its --mirror) and the networks its operator
// allows (`kiln serve --fetch-allow CIDR`). The address checked is the one connected to:
// a name is resolved and each of its addresses checked in the connection itself, so a name
// that resolves to a public address once and to 127.0.0.1 the next time (DNS rebinding)
// gains nothing, and a redirect is a new connection, checked again.
//
// undici (the library under Node's fetch) is loaded only when a guard is set: kiln build
// never needs it.

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { KilnError } from '../errors.ts';

/** What is not the public internet: loopback, private, link-local, shared, multicast, reserved (IPv4 and IPv6). */
const INTERNAL_V4 = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const;
const INTERNAL_V6 = [
  // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) carry an IPv4 address: refused whole, as kiln cannot tell which.
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const;

const internal = new BlockList();
for (const [net, bits] of INTERNAL_V4) internal.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of INTERNAL_V6) internal.addSubnet(net, bits, 'ipv6');

/** An IPv4 address mapped into IPv6 (`::ffff:127.0.0.1`) as the IPv4 one it is, else as given. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m !== null) return { address: m[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Whether an IP address is not a public internet one (pure). */
export function isInternalAddress(address: string): boolean {
  const a = unmapped(address);
  return internal.check(a.address, a.family);
}

export interface FetchPolicy {
  /**
   * `host:port` (host in lower case, the scheme's port when the url has none) connected to
   * whatever the host resolves to: the daemon's own mirrors, on their port only (an
   * apt-cacher at 127.0.0.1:3142 must not open all of loopback).
   */
  readonly trustedHosts: ReadonlySet<string>;
  /** Networks the operator allows besides the public internet (--fetch-allow). */
  readonly allowed: BlockList;
  /** The --fetch-allow entries, for messages. */
  readonly allowedText: readonly string[];
}

/**
 * The networks of `--fetch-allow` entries: `10.1.0.0/16`, `fd00::/8`, or one address
 * (`192.168.1.5`, a /32 or /128). A bad entry is a usage error naming it.
 */
export function parseFetchAllow(entries: readonly string[], option = '--fetch-allow'): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry.trim());
    const ip = m?.[1] === undefined ? 0 : isIP(m[1]);
    const bits = m?.[2] === undefined ? (ip === 6 ? 128 : 32) : Number(m[2]);
    if (m === null || ip === 0 || bits > (ip === 6 ? 128 : 32)) {
      throw new KilnError('usage', `${option} ${entry}: not an IP address or network (CIDR)`, {
        hint: `give an address or a network, e.g. ${option} 10.20.0.0/16 or ${option} 192.168.1.5 (a host name is not taken: allow the addresses it has)`,
      });
    }
    list.addSubnet(unmapped(m[1]!).address, bits, ip === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** The `host:port` of a url's origin, as FetchPolicy.trustedHosts holds it; undefined for a url that is not http(s) (pure). */
export function originKey(url: string): string | undefined {
  const u = URL.parse(url);
  if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') return undefined;
  return `${u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()}:${u.port === '' ? (u.protocol === 'https:' ? '443' : '80') : u.port}`;
}

/** Why the policy refuses to connect to `address` for `host`, or undefined when it may (pure; trusted origins are let through before this). */
export function refusal(policy: FetchPolicy, host: string, address: string): string | undefined {
  if (!isInternalAddress(address)) return undefined;
  const a = unmapped(address);
  if (policy.allowed.check(a.address, a.family)) return undefined;
  return host === address ? `${address} is not a public address` : `${host} resolves to ${address}, which is not a public address`;
}

/** The error of a refused connection (fetch wraps it: downloads find it in the cause chain). */
export function fetchRefused(policy: FetchPolicy, host: string, why: string): KilnError {
  return new KilnError('fetch-refused', `a daemon fetches only from public addresses and its own mirrors: ${why}`, {
    hint: `a tenant's tree may not reach the daemon's own network; serve the files from a public address, or have the operator allow the network (kiln serve --fetch-allow ${host === '' ? 'CIDR' : 'ADDRESS/BITS'}${policy.allowedText.length === 0 ? '' : `; allowed now: ${policy.allowedText.join(', ')}`})`,
  });
}

/** The KilnError('fetch-refused') in an error's cause chain, if any. */
export function refusedIn(e: unknown): KilnError | undefined {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    if (c instanceof KilnError && c.code === 'fetch-refused') return c;
  }
  return undefined;
}

/** A policy as a job message carries it to the workers (kiln serve --nats): the workers fetch for the daemon's tenants. */
export interface WirePolicy {
  readonly trustedHosts: string[];
  readonly allowed: string[];
}

let policy: FetchPolicy | undefined;

/** This process's policy, to send along with its jobs; undefined when it has none (not a daemon). */
export function policyForWorkers(): WirePolicy | undefined {
  return policy === undefined ? undefined : { trustedHosts: [...policy.trustedHosts], allowed: [...policy.allowedText] };
}

const byWire = new Map<string, Promise<typeof globalThis.fetch>>();

/** The guarded fetch of a policy a job brought (one per distinct policy). */
export function guardedFetchFor(w: WirePolicy): Promise<typeof globalThis.fetch> {
  const id = JSON.stringify(w);
  let f = byWire.get(id);
  if (f === undefined) {
    f = makeGuardedFetch({ trustedHosts: new Set(w.trustedHosts.map((h) => h.toLowerCase())), allowed: parseFetchAllow(w.allowed), allowedText: w.allowed });
    byWire.set(id, f);
  }
  return f;
}
let guarded: Promise<typeof globalThis.fetch> | undefined;

/** kiln serve, before its first download: every fetch of this process follows `p`. */
export function guardFetches(p: FetchPolicy): void {
  policy = p;
  guarded = undefined;
}

/** This process's policy (a daemon's), else undefined. */
export function fetchPolicy(): FetchPolicy | undefined {
  return policy;
}

/**
 * Why the policy refuses a url that something other than kiln's fetch will read (apt in an
 * instance layer), or undefined: its origin is trusted, or every address its host resolves
 * to is allowed. Checked once, before: what it redirects to, or a later answer of its DNS,
 * is not seen (the docs say so).
 */
export async function urlRefusal(p: FetchPolicy, url: string): Promise<string | undefined> {
  const origin = originKey(url);
  if (origin === undefined || p.trustedHosts.has(origin)) return undefined;
  const host = URL.parse(url)!.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(host) !== 0 ? [host] : await new Promise<string[]>((resolve) => dnsLookup(host, { all: true }, (err, list) => resolve(err === null ? list.map((a) => a.address) : [])));
  for (const a of addresses) {
    const why = refusal(p, host, a);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** The guarded fetch when this process has a policy (a daemon), else undefined. */
export function guardedFetch(): Promise<typeof globalThis.fetch> | undefined {
  const p = policy;
  if (p === undefined) return undefined;
  guarded ??= makeGuardedFetch(p);
  return guarded;
}

/** A fetch whose every connection (redirects too) goes only where `p` allows. */
export async function makeGuardedFetch(p: FetchPolicy): Promise<typeof globalThis.fetch> {
  const undici = await import('undici');
  const lookup = (hostname: string, options: object, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) return callback(err, []);
      for (const a of addresses) {
        const why = refusal(p, hostname, a.address);
        if (why !== undefined) return callback(fetchRefused(p, hostname, why), []);
      }
      const all = (options as { all?: boolean }).all === true;
      return all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
  const connector = undici.buildConnector({ lookup } as Parameters<typeof undici.buildConnector>[0]);
  const trusted = undici.buildConnector({});
  const dispatcher = new undici.Agent({
    connect: (options, callback) => {
      const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
      const port = options.port === '' || options.port === undefined ? (options.protocol === 'https:' ? '443' : '80') : String(options.port);
      // One of the daemon's own mirrors, on its own port: wherever it is.
      if (p.trustedHosts.has(`${host.toLowerCase()}:${port}`)) return trusted(options, callback);
      // An address in the url is connected to without a lookup: checked here.
      if (isIP(host) !== 0) {
        const why = refusal(p, host, host);
        if (why !== undefined) return callback(fetchRefused(p, host, why), null);
      }
      return connector(options, callback);
    },
  });
  return ((input: Parameters<typeof globalThis.fetch>[0], init?: RequestInit) =>
    undici.fetch(input as Parameters<typeof undici.fetch>[0], { ...(init as Parameters<typeof undici.fetch>[1]), dispatcher })) as unknown as typeof globalThis.fetch;
}
