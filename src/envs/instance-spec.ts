// The instance layer of an env (issue 3 §1, AOINB's per-branch instance): extra apt
// sources, their keyrings and packages, declared in kiln.toml's `[instance]` and made into
// a read-only layer over the env's base root. This file is the pure part: the spec as
// kiln.toml gives it, its hash (which instance of an env a tree uses), and the files the
// layer gets (a deb822 sources file, keyrings).
//
//   [instance]
//   name = "stable"                       # the branch; part of the env id
//   packages = ["hello"]                  # installed into the layer
//   debian-lists = false                  # also fetch the base's own (Debian) package lists
//   [[instance.sources]]
//   uri = "https://repo.example/debian"   # http(s):// or file:// (a directory on this host)
//   suite = "stable"                      # or "./" for a flat repository
//   components = ["main"]                 # none for a flat repository
//   signed-by = "keys/repo.asc"           # keyring, relative to kiln.toml; or trusted = true

import { z } from 'zod';
import { sha256 } from '../lib/hash.ts';

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
export const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:-]+)?$/;

export const instanceSourceSchema = z.strictObject({
  uri: z.string().regex(/^(https?:\/\/.|file:\/\/\/)/, 'an apt source URI starts with http://, https:// or file:/// (an absolute directory on this host)'),
  suite: z.string().regex(/^[A-Za-z0-9._/-]+$/, 'a suite name (e.g. "stable") or "./" for a flat repository'),
  components: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/)).default([]),
  'signed-by': z.string().min(1).optional(),
  trusted: z.boolean().optional(),
});

export const instanceSchema = z.strictObject({
  name: z.string().regex(NAME_RE, 'use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. the branch: "stable")').max(40).default('default'),
  sources: z.array(instanceSourceSchema).min(1),
  packages: z.array(z.string().regex(PACKAGE_RE, 'a Debian package name, optionally =VERSION')).default([]),
  'debian-lists': z.boolean().default(false),
  refresh: z.enum(['when-missing', 'every-run'], { message: 'refresh is "when-missing" (the default: `kiln env update --instances-only` refreshes it) or "every-run" (apt update of its sources as each build starts)' }).default('when-missing'),
});

export interface InstanceSource {
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
  /** Absolute host path of the keyring (resolved against kiln.toml's directory). */
  readonly signedBy?: string;
  readonly trusted: boolean;
}

export interface InstanceSpec {
  readonly name: string;
  readonly sources: readonly InstanceSource[];
  readonly packages: readonly string[];
  /** Also fetch the package lists of the base's own sources (the Debian archive). */
  readonly debianLists: boolean;
  /**
   * `every-run`: a build refreshes the layer as it starts (seed 004's apt update and upgrade
   * each time a build begins). Not part of the spec's hash: the same instance either way.
   */
  readonly refresh?: 'every-run';
}

/** The spec with each keyring's content hash: what the layer is made from. */
export interface ResolvedInstance {
  readonly spec: InstanceSpec;
  /** sha256 of each source's keyring, in source order (undefined: no keyring). */
  readonly keyringHashes: readonly (string | undefined)[];
}

/** Which instance of an env this is: 16 hex digits of the spec (keyring contents included). */
export function instanceSpecHash(r: ResolvedInstance): string {
  const s = r.spec;
  const canonical = JSON.stringify({
    name: s.name,
    sources: s.sources.map((x, i) => ({ uri: x.uri, suite: x.suite, components: x.components, trusted: x.trusted, keyring: r.keyringHashes[i] ?? null })),
    packages: [...s.packages].sort(),
    debianLists: s.debianLists,
  });
  return sha256(canonical).slice(0, 16);
}

/** Where the index-th `file:///dir` source is offered inside the root while the layer is made. */
export function fileSourceMount(index: number): string {
  return `/run/kiln-sources/${index}`;
}

/** The host directory of a file:// source, or undefined for http(s). */
export function fileSourceDir(source: InstanceSource): string | undefined {
  return source.uri.startsWith('file://') ? decodeURI(source.uri.slice('file://'.length)).replace(/\/+$/, '') || '/' : undefined;
}

export function keyringName(specName: string, index: number, armored: boolean): string {
  return `kiln-${specName}-${index}.${armored ? 'asc' : 'gpg'}`;
}

/**
 * The deb822 sources file of the layer (`/etc/apt/sources.list.d/kiln-<name>.sources`).
 * file:// sources point at their mount inside the root, where apt reads them.
 */
export function renderSources(spec: InstanceSpec, keyrings: readonly (string | undefined)[]): string {
  let files = 0;
  const stanzas = spec.sources.map((s, i) => {
    const dir = fileSourceDir(s);
    // file:// sources are mounted in order, 0, 1, …, skipping http(s) ones.
    const mount = dir === undefined ? undefined : fileSourceMount(files++);
    const lines = [
      `# kiln instance "${spec.name}", source ${i}${dir === undefined ? '' : `: ${s.uri}`}`,
      'Types: deb',
      `URIs: ${mount === undefined ? s.uri : `file:${mount}`}`,
      `Suites: ${s.suite}`,
    ];
    if (s.components.length > 0) lines.push(`Components: ${s.components.join(' ')}`);
    const key = keyrings[i];
    if (key !== undefined) lines.push(`Signed-By: /etc/apt/keyrings/${key}`);
    if (s.trusted) lines.push('Trusted: yes');
    return lines.join('\n');
  });
  return `${stanzas.join('\n\n')}\n`;
}

/** A flat repository (suite ending in "/") has no components; any other suite needs one. */
export function sourceProblems(spec: InstanceSpec): string[] {
  const out: string[] = [];
  spec.sources.forEach((s, i) => {
    const flat = s.suite.endsWith('/');
    if (flat && s.components.length > 0) out.push(`sources[${i}]: a flat repository (suite "${s.suite}") has no components`);
    if (!flat && s.components.length === 0) out.push(`sources[${i}]: suite "${s.suite}" needs components (e.g. ["main"]), or use suite = "./" for a flat repository`);
    if (s.trusted && s.signedBy !== undefined) out.push(`sources[${i}]: give either signed-by or trusted = true, not both`);
  });
  return out;
}
