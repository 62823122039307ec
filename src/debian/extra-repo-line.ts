// One extra repository as the user gives it (--extra-repository, or debian.toml's
// extra-repositories): a `deb [signed-by=FILE] URI SUITE [COMPONENT…]` line, read and
// checked before anything is fetched (extra-repos.ts fetches and merges). Light: the
// command line reads it on every run.

import { hasUserinfo, USERINFO_PROBLEM } from '../config/credentials.ts';
import { KilnError } from '../errors.ts';

export interface ExtraRepository {
  /** The line as given, for messages. */
  readonly line: string;
  /** Where it was given: `--extra-repository`, or `FILE: extra-repositories[0]`. */
  readonly where: string;
  /** The code of an error about it: a flag's is `usage`, debian.toml's `config-invalid`. */
  readonly code: 'usage' | 'config-invalid';
  /** The base url (the directory holding dists/ and pool/), without trailing slash. */
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
  /** The only keyring its InRelease may be signed by (an absolute path), if the line names one. */
  readonly signedBy?: string;
}

const SUITE = /^[A-Za-z0-9._-]+$/;
const COMPONENT = /^[A-Za-z0-9._/-]+$/;

/**
 * Reads one `deb [signed-by=FILE] URI SUITE [COMPONENT…]` line (the leading `deb` may be
 * left out). `resolvePath` makes signed-by absolute (relative to the working directory or
 * to debian.toml). A bad line is a KilnError of `code` naming `where` (pure).
 */
export function parseExtraRepository(line: string, where: string, code: 'usage' | 'config-invalid', resolvePath: (p: string) => string): ExtraRepository {
  const bad = (what: string, hint: string): KilnError => new KilnError(code, `${where} "${line}": ${what}`, { hint });
  const form = 'give a line as in apt\'s sources.list: "deb URI SUITE [COMPONENT…]", e.g. "deb http://HOST/debian bookworm-updates main" (docs/debian.md#extra-repositories)';
  let rest = line.trim();
  if (rest.startsWith('deb-src')) throw bad('source lines are not read: sources come from the run\'s suite alone', 'give a "deb" line (its binaries serve the build dependencies)');
  if (/^deb\s/.test(rest)) rest = rest.slice(3).trim();
  let signedBy: string | undefined;
  const opts = /^\[([^\]]*)\]\s*/.exec(rest);
  if (opts !== null) {
    rest = rest.slice(opts[0].length);
    for (const o of opts[1]!.trim().split(/\s+/).filter((x) => x !== '')) {
      const [k, v] = [o.slice(0, o.indexOf('=') === -1 ? o.length : o.indexOf('=')), o.includes('=') ? o.slice(o.indexOf('=') + 1) : ''];
      if (k === 'signed-by' && v !== '') signedBy = resolvePath(v);
      else if (k === 'trusted') throw bad('trusted= is not accepted: kiln checks every index against a signature', 'sign the repository (kiln repo publish signs it; kiln key export gives its key) and name the key: [signed-by=FILE] or --extra-repository-key FILE');
      else throw bad(`unknown option "${o}"`, 'the only option read is [signed-by=FILE] (the keyring the repository is signed with)');
    }
  }
  const [given, suite, ...components] = rest.split(/\s+/).filter((x) => x !== '');
  if (given === undefined || suite === undefined) throw bad('it names no URI and suite', form);
  // apt's sources.list writes a local folder file:/srv/repo as well as file:///srv/repo.
  const uri = given.replace(/^file:\/(?!\/)/i, 'file:///');
  if (!/^(https?:\/\/[^/]|file:\/\/\/)/i.test(uri) || URL.parse(uri) === null) throw bad(`"${given}" is not an http://, https:// or file:/// URL (file:/PATH as apt writes it is one too)`, form);
  if (hasUserinfo(uri)) throw bad(`the URI ${USERINFO_PROBLEM}`, 'write the URI without credentials');
  if (suite.endsWith('/')) throw bad(`"${suite}" is a flat repository (no dists/), which kiln does not read`, 'publish it with dists/SUITE/InRelease (kiln repo publish does), and name that suite');
  if (!SUITE.test(suite)) throw bad(`"${suite}" is not a suite name`, form);
  const bad1 = components.find((c) => !COMPONENT.test(c));
  if (bad1 !== undefined) throw bad(`"${bad1}" is not a component name`, form);
  return { line: line.trim(), where, code, uri: uri.replace(/\/+$/, ''), suite, components: components.length > 0 ? components : ['main'], ...(signedBy === undefined ? {} : { signedBy }) };
}
