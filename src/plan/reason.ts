// Why a package is (re)built: a typed reason, like cargo's DirtyReason.

import { describeChanges, type PartChange } from './input-parts.ts';

export type Reason =
  /** `artifactGone`: built before with these very inputs, but its artifact is no longer in the cache (cache gc). */
  | { readonly kind: 'new'; readonly artifactGone?: true; readonly failedBefore?: true }
  /**
   * `debian`: a Debian source package, whose "recipe" is its .dsc and kiln's build options
   * for it. `changes`: the parts that differ from the last successful build's, when both
   * recorded theirs (input-parts.ts).
   */
  | { readonly kind: 'recipe-changed'; readonly debian?: true; readonly changes?: readonly PartChange[] }
  | { readonly kind: 'source-changed'; readonly changes?: readonly PartChange[] }
  /** `staged`: the dependency is staged now and was not before ('added'), or no longer is ('removed'); absent: its output changed (or is being rebuilt). */
  | { readonly kind: 'dependency-changed'; readonly dependency: string; readonly staged?: 'added' | 'removed' }
  /** `was`, `now`: the env ids (`debian-12@3`, `host:…`) of the last good build and of this one. */
  | { readonly kind: 'environment-changed'; readonly was?: string; readonly now?: string }
  | { readonly kind: 'previous-failure' }
  /**
   * `by: 'twice'`: kiln build --twice builds everything again to compare; `by:
   * 'fail-on-warnings'`: its stored artifact was built with the output checks' `warnings`,
   * which --fail-on-warnings refuses; else --force.
   */
  | { readonly kind: 'forced'; readonly by?: 'twice' }
  | { readonly kind: 'forced'; readonly by: 'fail-on-warnings'; readonly warnings: readonly string[] };

export type ReasonKind = Reason['kind'];

export function describeReason(r: Reason): string {
  switch (r.kind) {
    case 'new':
      return r.artifactGone === true ? 'new: built before with these inputs, but its artifact is gone from the cache (cache gc, or found corrupt and removed)'
        : r.failedBefore === true ? 'new: never built successfully (its last attempt failed)'
        : 'new: never built before';
    case 'recipe-changed':
      if (r.changes !== undefined && r.changes.length > 0) return `recipe-changed: ${describeChanges(r.changes)}`;
      return r.debian === true
        ? 'recipe-changed: the source package or its build options (--profiles, --nocheck, --cpus, --binnmu, the build mode) changed'
        : 'recipe-changed: the recipe, a file it references, or its options changed';
    case 'source-changed':
      if (r.changes !== undefined && r.changes.length > 0) return `source-changed: ${describeChanges(r.changes)}`;
      return 'source-changed: a source checksum changed';
    case 'dependency-changed':
      return r.staged === 'added' ? `dependency-changed: ${r.dependency} is staged now, and was not in the last build`
        : r.staged === 'removed' ? `dependency-changed: ${r.dependency} is no longer staged`
        : `dependency-changed: ${r.dependency} changed`;
    case 'environment-changed':
      return r.was !== undefined && r.now !== undefined ? `environment-changed: the build environment changed (${r.was} → ${r.now})` : 'environment-changed: the build environment or arch changed';
    case 'previous-failure':
      return 'previous-failure: the last build with these inputs failed';
    case 'forced':
      return r.by === 'twice' ? 'forced: --twice builds every package again to compare the two builds'
        : r.by === 'fail-on-warnings' ? `forced: --fail-on-warnings, and its stored build had warnings (${r.warnings.join('; ')})`
        : 'forced: asked to rebuild';
  }
}
