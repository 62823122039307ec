// The architecture names a kiln recipe's relations may use (`[amd64 !arm64]`, `:native`):
// dpkg's names and wildcards, checked when a recipe is read. Debian's own indexes are
// taken as they are (relation.ts parses both). Pure.

import type { Relation } from './relation-types.ts';
import { archMatches } from './relation.ts';
import { DEBIAN_ARCHS, didYouMeanArch, isDebianArch } from './arch-names.ts';

/**
 * Is `name` an arch name dpkg knows, or a wildcard that matches one (`any`, `linux-any`,
 * `any-arm64`, `kfreebsd-any`)? What a kiln recipe's arch list accepts.
 */
export function isArchOrWildcard(name: string): boolean {
  if (isDebianArch(name) || name === 'any') return true;
  if (!name.split('-').includes('any')) return false;
  for (const real of DEBIAN_ARCHS) if (archMatches(real, name)) return true;
  return false;
}

/**
 * What a relation names that is no architecture, for kiln recipes (Debian's own indexes are
 * taken as they are): a name in its arch list (`[nonsense]`) that is neither an arch nor a
 * wildcard, a qualifier (`:foo`) other than any, native or an arch name. Such a relation
 * would silently never apply, or never be satisfied.
 */
export function relationArchProblems(r: Relation): string[] {
  const out: string[] = [];
  for (const a of r.archRestriction?.arches ?? []) {
    if (!isArchOrWildcard(a)) {
      out.push(`"${a}" in the architecture list is not a Debian architecture name or wildcard${didYouMeanArch(a)}: use names such as amd64, any-arm64 or linux-any, each optionally with "!" before it`);
    }
  }
  const q = r.archQualifier;
  if (q !== undefined && q !== 'any' && q !== 'native' && !isDebianArch(q)) {
    out.push(`":${q}" is not an architecture qualifier${didYouMeanArch(q)}: use :any, :native or an arch name such as :amd64`);
  }
  return out;
}
