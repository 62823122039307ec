// What really makes and changes env roots: mmdebstrap, apt-get dist-upgrade, and the
// binfmt registration of a foreign arch (tests replace them through EnvStoreOptions.makers).

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../errors.ts';
import { suiteHint } from '../debian/closest-name.ts';
import { ensureForeignArch } from './binfmt.ts';
import { ENV_ERRORS } from './env-errors.ts';
import type { RootMakers } from './env-types.ts';
import { mmdebstrapArgv, PRIVATE_NS, runStreaming, upgradeArgv, upgradeEnv } from './root-commands.ts';
import { kilnFetch } from '../config/credentials.ts';

export const defaultMakers: RootMakers = {
  async bootstrap(spec, root, o) {
    await checkSuiteOnMirror(spec.mirror, spec.suite, o.signal);
    const key = spec.keyring === undefined ? undefined : await stageKeyring(spec.keyring, root);
    const argv = mmdebstrapArgv(spec, root, key);
    const r = await runStreaming([...PRIVATE_NS, ...argv], { signal: o.signal, onLine: o.onLine }).finally(async () => {
      if (key !== undefined) await rm(dirname(key), { recursive: true, force: true });
    });
    if (r.code !== 0) {
      // apt's "Release file for … is expired": a snapshot mirror, or one out of date.
      const expired = r.tail.some((l) => /Release file for .* is expired/.test(l));
      throw new KilnError(ENV_ERRORS.failed, `mmdebstrap failed (exit ${r.code}) making ${spec.suite}/${spec.arch} from ${spec.mirror}: ${r.tail.slice(-3).join(' | ')}`, {
        hint: expired
          ? 'the mirror\'s Release is past its Valid-Until (apt: "is expired"): the mirror is out of date (try another), or a snapshot of the archive frozen on purpose: then --no-check-valid-until'
          : 'check the suite name, the --mirror URL and the network (mmdebstrap\'s output is above); is mmdebstrap installed?',
      });
    }
    return argv;
  },
  async upgrade(root, o) {
    const argv = upgradeArgv(root);
    const r = await runStreaming(argv, { signal: o.signal, onLine: o.onLine, env: upgradeEnv() });
    if (r.code !== 0) {
      throw new KilnError(ENV_ERRORS.failed, `apt-get update/dist-upgrade failed (exit ${r.code}) in ${root}: ${r.tail.slice(-3).join(' | ')}`, {
        hint: r.tail.some((l) => /Release file for .* is expired/.test(l))
          ? 'the mirror\'s Release is past its Valid-Until (apt: "is expired"): the mirror is out of date, or a snapshot frozen on purpose; an env made with kiln env create --no-check-valid-until takes it (an env keeps how it was made: destroy and create it again); the current version is unchanged'
          : 'check the network and the mirror in the env\'s /etc/apt/sources.list; the current version is unchanged',
      });
    }
    return ['apt-get update', 'apt-get -y dist-upgrade', 'apt-get clean'];
  },
  async ensureArch(arch, o) {
    await ensureForeignArch(arch, { signal: o.signal, onOutput: o.onOutput });
  },
};

/**
 * A copy of the keyring beside the root being made (its version's staging folder), named as
 * apt reads a key: kiln-archive.asc when ASCII-armoured, else kiln-archive.gpg (the user's
 * file may be named either way). A missing file is a usage error naming it.
 */
async function stageKeyring(keyring: string, root: string): Promise<string> {
  const bytes = await readFile(keyring).catch((e: NodeJS.ErrnoException) => {
    throw new KilnError(ENV_ERRORS.usage, `--keyring: cannot read ${keyring} (${e.code ?? e.message})`, { hint: 'name the keyring the mirror is signed with: a binary keyring (.gpg) or an ASCII-armoured key (.asc)', cause: e });
  });
  const dir = join(dirname(root), 'keyring');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `kiln-archive.${bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP') ? 'asc' : 'gpg'}`);
  await writeFile(file, bytes, { mode: 0o644 });
  return file;
}

/**
 * A suite the mirror does not have (a typo such as bookwrm) is named before mmdebstrap
 * runs: its own error comes after a minute and deep in its output. Only a 404 of both the
 * suite's InRelease and Release files counts; a network problem or a non-HTTP mirror is left to mmdebstrap.
 */
export async function checkSuiteOnMirror(mirror: string, suite: string, signal?: AbortSignal, fetchImpl: typeof fetch = kilnFetch, flag = '--suite'): Promise<void> {
  if (!/^https?:\/\//.test(mirror)) return;
  const dists = `${mirror.replace(/\/+$/, '')}/dists/${suite}`;
  const timeout = AbortSignal.timeout(15_000);
  const missing = async (file: string): Promise<boolean> => {
    const res = await fetchImpl(`${dists}/${file}`, { method: 'HEAD', redirect: 'follow', signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) }).catch(() => undefined);
    return res?.status === 404;
  };
  // Either file makes a suite (apt reads InRelease first; some repositories have only one).
  if (!(await missing('InRelease')) || !(await missing('Release'))) return;
  throw new KilnError(ENV_ERRORS.usage, `${flag}: the mirror ${mirror} has no suite "${suite}" (${dists}/InRelease and Release: HTTP 404)`, {
    hint: `${suiteHint(suite)} (or pass --mirror with one that has it)`,
  });
}
