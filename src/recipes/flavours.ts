// A recipe's flavours (`[flavours.ID]`, poudriere's FLAVORS, pkgsrc's multi-version
// packages) made into packages of their own, after the scan (whose cache keeps one spec per
// folder): each flavour is the recipe's package under the flavour's name, with the options
// the flavour pins (plan/options.ts applies them over the run's settings). Its recipe hash
// names the flavour, so that two flavours of one recipe never share a key. It provides
// nothing: a name the recipe provides stays the recipe's own package's. A flavour whose
// name another package of the tree has makes its recipe invalid, said by key. Pure.

import { sha256Parts } from '../lib/hash.ts';
import type { InvalidPackage, PackageSpec } from '../plan/spec.ts';

export function expandFlavours(specs: readonly PackageSpec[], invalid: readonly InvalidPackage[]): { specs: PackageSpec[]; invalid: InvalidPackage[] } {
  if (!specs.some((s) => s.flavours !== undefined)) return { specs: [...specs], invalid: [...invalid] };
  // Every name of the tree, with who has it: a package's folder, or a flavour of a recipe.
  const owner = new Map<string, string>();
  for (const x of [...specs, ...invalid]) owner.set(x.name, `the package in ${x.dir}`);
  const clash = new Map<string, string[]>();
  for (const s of specs) {
    for (const f of s.flavours ?? []) {
      const other = owner.get(f.name);
      if (other !== undefined) {
        clash.set(s.name, [...(clash.get(s.name) ?? []), `flavours.${f.id}`, `its package name "${f.name}" is taken by ${other}: give the flavour another name (name = "…")`]);
      } else owner.set(f.name, `flavour ${f.id} of ${s.name}`);
    }
  }
  const outSpecs: PackageSpec[] = [];
  const outInvalid = [...invalid];
  for (const s of specs) {
    const problems = clash.get(s.name);
    if (problems !== undefined) {
      const diagnostics = [];
      for (let i = 0; i < problems.length; i += 2) diagnostics.push({ file: s.file, key: problems[i]!, message: problems[i + 1]! });
      // What needs one of its other flavours hears that it is broken, not that it is not in the tree.
      const taken = new Set(problems.filter((_, i) => i % 2 === 0).map((k) => k.slice('flavours.'.length)));
      const provides = [...s.provides, ...(s.flavours ?? []).filter((f) => !taken.has(f.id)).map((f) => ({ name: f.name }))];
      outInvalid.push({ name: s.name, version: s.version, archs: s.archs, provides, dir: s.dir, ...(s.category === undefined ? {} : { category: s.category }), diagnostics });
      continue;
    }
    outSpecs.push(s);
    for (const f of s.flavours ?? []) {
      const { flavours: _, ...rest } = s;
      outSpecs.push({
        ...rest,
        name: f.name,
        provides: [],
        // Another package: another key, even with the same options.
        recipeHash: sha256Parts([s.recipeHash, 'flavour', f.id]),
        flavour: { id: f.id, of: s.name, options: f.options },
      });
    }
  }
  return { specs: outSpecs, invalid: outInvalid };
}
