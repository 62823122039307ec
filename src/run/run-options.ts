// The recipes' options as a run sets them (plan/options.ts): kiln.toml's [options], then
// --option (those for every package before those for one, so that one package's own wins),
// applied to the scanned specs. A setting that names nothing stops the run; one for every
// package that no package has is said. Shared by kiln plan/build (prepare-plan.ts) and
// kiln fetch (fetch-tree.ts), so that they agree on what a package needs.

import { KilnError } from '../errors.ts';
import { applyOptions, type OptionSetting } from '../plan/options.ts';
import type { InvalidPackage, PackageSpec } from '../plan/spec.ts';
import type { TreeConfig } from '../config/tree-config.ts';

/** --option settings with those for every package first, so that one package's own wins (in the order given otherwise). */
export function orderedSettings(settings: readonly OptionSetting[]): OptionSetting[] {
  return [...settings.filter((s) => s.pkg === undefined), ...settings.filter((s) => s.pkg !== undefined)];
}

/** The specs a run builds, with its option values; throws usage (--option) or config-invalid (kiln.toml) for a setting that names nothing. */
export function specsWithOptions(
  scan: { readonly specs: readonly PackageSpec[]; readonly invalid: readonly InvalidPackage[]; readonly config: Pick<TreeConfig, 'options'> },
  flags: readonly OptionSetting[] | undefined,
  note: ((text: string) => void) | undefined,
): readonly PackageSpec[] {
  const settings = [...(scan.config.options ?? []), ...orderedSettings(flags ?? [])];
  const applied = applyOptions(scan.specs, settings, scan.invalid.map((x) => x.name));
  if (applied.problems.length > 0) {
    // A setting of kiln.toml is the tree's configuration; one of --option, the command line's.
    const fromFlags = applied.problems.every((p) => p.startsWith('--option '));
    throw new KilnError(fromFlags ? 'usage' : 'config-invalid', applied.problems.length === 1 ? applied.problems[0]! : `${applied.problems.length} option settings name nothing:\n${applied.problems.map((p) => `  ${p}`).join('\n')}`, {
      hint: 'name a package of the tree and an option its recipe declares ([options] in its recipe.toml), or remove the setting (--option, or kiln.toml [options])',
    });
  }
  for (const text of applied.notes) note?.(text);
  return applied.specs;
}
