// The hint of a source not found in the run's components (debian-scan.ts): when another
// component of the suite has it (contrib, non-free…), which, and how to add it.

import { readFile } from 'node:fs/promises';
import { isKilnError, KilnError } from '../errors.ts';
import { hasComponent, type LayeredSources } from './components.ts';
import type { DebianRequest } from './debian-scan.ts';
import type { SuiteRelease } from './indexes.ts';
import { lazySources } from './lazy-index.ts';
import { otherSources } from './suite-indexes.ts';

/**
 * A source in none of the run's components: when another component of the suite has it
 * (contrib, non-free…), the error says which, and how to add it; else the error as it is.
 */
export async function notInComponents(req: DebianRequest, release: SuiteRelease, sources: LayeredSources, want: string, e: unknown): Promise<never> {
  const name = want.split('=')[0]!;
  if (!isKilnError(e) || e.code !== 'source-not-found' || sources.componentOf(name) !== undefined || !e.message.startsWith('no source package ')) throw e;
  const others = release.release.components.map((c) => c.split('/').pop()!).filter((c) => !sources.components.some((x) => hasComponent([c], x)));
  let lookedInAll = true;
  for (const component of others) {
    // Only to say where it is: a component whose Sources cannot be read is passed over (not when cancelled).
    const path = await otherSources(req, release, component).catch((err: unknown) => {
      if (req.signal?.aborted === true) throw err;
      return undefined;
    });
    if (path === undefined) {
      lookedInAll = false;
      continue;
    }
    const index = lazySources(await readFile(path, 'utf8'), `${release.url} (${component} Sources)`);
    if (index.raw(name).length === 0) continue;
    const list = [...sources.components, component];
    const where = req.origin?.components?.code === 'config-invalid' ? `components = [${list.map((c) => `"${c}"`).join(', ')}] in debian.toml` : `--components ${list.join(',')}`;
    throw new KilnError('source-not-found', e.message, { hint: `${name} is in ${req.suite} ${component}, which this run does not read: add it, ${where}` });
  }
  // In no other component either (and no near name, which the hint would say first): the name is wrong.
  if (lookedInAll && others.length > 0 && e.hint?.startsWith('searched ') === true) {
    throw new KilnError('source-not-found', e.message, { hint: `searched ${sources.components.join(', ')}, and no other component of ${req.suite} (${others.join(', ')}) has it either: check the name; \`apt-cache showsrc ${name}\` on a ${req.suite} machine lists it if it exists` });
  }
  throw e;
}
