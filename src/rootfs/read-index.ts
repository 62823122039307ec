// kiln rootfs: read STATE/packages/index.json, the list of every package built (written
// by run/update-index.ts), as the entries a root is chosen from.

import { readFile } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import type { IndexPackage } from './closure.ts';

export async function readIndexPackages(indexPath: string): Promise<IndexPackage[]> {
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KilnError('package-not-found', `${indexPath} does not exist: nothing has been built with this state directory`, {
        hint: 'build the packages first (kiln build), and give kiln rootfs the same --state',
      });
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new KilnError('config-invalid', `${indexPath} is not valid JSON: ${(e as Error).message}`, { hint: 'run kiln build again: it rewrites the index' });
  }
  const list = (parsed as { packages?: unknown } | null)?.packages;
  if (!Array.isArray(list)) throw new KilnError('config-invalid', `${indexPath} has no "packages" list`, { hint: 'run kiln build again: it rewrites the index' });
  return list.map((raw: unknown, i) => {
    const e = raw as Record<string, unknown>;
    const str = (k: string): string => {
      const v = e?.[k];
      if (typeof v !== 'string') throw new KilnError('config-invalid', `${indexPath}: packages[${i}].${k} is not a string`, { hint: 'run kiln build again: it rewrites the index' });
      return v;
    };
    const strings = (k: string): string[] => (Array.isArray(e?.[k]) ? (e[k] as unknown[]).map(String) : []);
    return {
      name: str('name'), version: str('version'), release: Number(e['release'] ?? 1), arch: str('arch'),
      depends: strings('depends'), provides: strings('provides'),
      size: typeof e['size'] === 'number' ? e['size'] : 0, sha256: typeof e['sha256'] === 'string' ? e['sha256'] : '', path: str('path'),
    };
  });
}
