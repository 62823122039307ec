// kiln's version, from its package.json (read once): the report and the workers' answers say it.

import { readFileSync } from 'node:fs';

/** undefined when package.json cannot be read or has no version. */
export const KILN_VERSION: string | undefined = (() => {
  try {
    const v: unknown = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
})();
