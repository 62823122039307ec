// What a coordinator put in the object store lately, by what it holds (a package folder, an
// artifact, an index): put once per while, not once per job.

/**
 * Blob names put recently, by what they hold: reused for MEMO_MS only, then put again (which
 * renews a blob that has aged: blobs.ts), so a long run never hands a worker a name whose blob
 * is about to expire. A failed put is forgotten at once.
 */
export type Memo<T> = Map<string, { readonly at: number; readonly p: Promise<T> }>;
export const MEMO_MS = 10 * 60_000;

export function memo<T>(map: Memo<T>, key: string, make: () => Promise<T>): Promise<T> {
  const hit = map.get(key);
  if (hit !== undefined && Date.now() - hit.at < MEMO_MS) return hit.p;
  const p = make();
  const entry = { at: Date.now(), p };
  map.set(key, entry);
  p.catch(() => {
    if (map.get(key) === entry) map.delete(key);
  });
  return p;
}
