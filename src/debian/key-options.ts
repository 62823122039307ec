// kiln's Debian build options as a build and its input key see them. Pure, and light: the
// planner loads it for every run (plan/input-parts.ts), Debian or not.

import type { DebianOptions } from './debian-spec.ts';

/** The active build profiles: those asked for, and nocheck with --nocheck. */
export function profilesOf(o: DebianOptions): string[] {
  return [...new Set([...o.profiles, ...(o.nocheck ? ['nocheck'] : [])])];
}

/**
 * kiln's build options as the input key takes them: what changes the build, written one
 * way. The profiles sorted, `--nocheck` and the nocheck profile as one (each brings the
 * other: DEB_BUILD_OPTIONS and DEB_BUILD_PROFILES alike), and no run-wide mode (each arch's
 * own mode is in the key beside it).
 */
export function keyOptions(o: DebianOptions): { profiles: string[]; nocheck: boolean; binnmu?: number; autoBinnmu?: true } {
  const profiles = profilesOf(o).sort();
  return { profiles, nocheck: profiles.includes('nocheck'), ...(o.binnmu === undefined ? {} : { binnmu: o.binnmu }), ...(o.autoBinnmu === true ? { autoBinnmu: true as const } : {}) };
}
