// Find and load a tree's kiln.toml. Kept apart from tree-config.ts (the parser) so that
// a tree without kiln.toml never loads smol-toml, zod and the recipe schema: the parser
// is imported only when the file exists.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { formatDiagnostic, type Diagnostic } from '../plan/spec.ts';
import { builtinDefaults } from '../recipes/recipe-defaults.ts';
import { readTomlFile } from './read-toml-file.ts';
import type { TreeConfig } from './tree-config.ts';

/** The config of a run without a tree (or a tree without kiln.toml: `file` undefined). */
export function emptyTreeConfig(file: string | undefined): TreeConfig {
  return { file, env: undefined, sandbox: undefined, archs: undefined, defaults: builtinDefaults, mirrors: {} };
}

/** The tree folder is missing or is not a folder: what to give instead. */
export function treeNotFound(root: string): KilnError {
  return new KilnError('tree-not-found', `${root} is not a directory`, {
    hint: 'give the tree with --tree DIR, or run kiln inside a tree (a folder with one folder per package, each holding recipe.toml)',
  });
}

/** kiln.toml's problems, every one, as the error that stops a run (`what`: said after "invalid", e.g. what was not done). */
export function configInvalid(diagnostics: readonly Diagnostic[], what = ''): KilnError {
  return new KilnError('config-invalid', `the tree's configuration is invalid${what}:\n${diagnostics.map((d) => `  ${formatDiagnostic(d)}`).join('\n')}`, {
    hint: 'fix kiln.toml (docs/recipes.md describes its keys)',
  });
}

export async function loadTreeConfig(treeDir: string): Promise<{ config: TreeConfig; diagnostics: Diagnostic[] }> {
  if ((await stat(treeDir).catch(() => undefined))?.isDirectory() !== true) throw treeNotFound(treeDir);
  const file = join(treeDir, 'kiln.toml');
  const text = readTomlFile(file, 'replace it with a kiln.toml file (docs/recipes.md describes its keys), or remove it: a tree needs no kiln.toml');
  if (text === undefined) return { config: emptyTreeConfig(undefined), diagnostics: [] };
  const { parseTreeConfig } = await import('./tree-config.ts');
  return parseTreeConfig(text, file);
}
