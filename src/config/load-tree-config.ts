// Find and load a tree's kiln.toml. Kept apart from tree-config.ts (the parser) so that
// a tree without kiln.toml never loads smol-toml, zod and the recipe schema: the parser
// is imported only when the file exists.

import { readFile, readlink, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import type { Diagnostic } from '../plan/spec.ts';
import { builtinDefaults } from '../recipes/recipe-defaults.ts';
import type { TreeConfig } from './tree-config.ts';

/** The config of a run without a tree (or a tree without kiln.toml: `file` undefined). */
export function emptyTreeConfig(file: string | undefined): TreeConfig {
  return { file, env: undefined, sandbox: undefined, archs: undefined, defaults: builtinDefaults, mirrors: {} };
}

export async function loadTreeConfig(treeDir: string): Promise<{ config: TreeConfig; diagnostics: Diagnostic[] }> {
  const file = join(treeDir, 'kiln.toml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // A kiln.toml symlink to nothing is a mistake to say, not a tree without kiln.toml.
      const link = await lstat(file).then((st) => st.isSymbolicLink(), () => false);
      if (!link) return { config: emptyTreeConfig(undefined), diagnostics: [] };
      const target = await readlink(file).catch(() => '?');
      throw new KilnError('config-invalid', `${file} is a dangling symlink (to ${target}, which does not exist)`, {
        hint: 'point it at an existing kiln.toml, or remove it (a tree needs no kiln.toml)', cause: e,
      });
    }
    if (code === 'EISDIR') {
      throw new KilnError('config-invalid', `${file} is a directory: kiln.toml must be a file`, {
        hint: 'move the directory away, or replace it with a kiln.toml file (docs/recipes.md describes its keys)', cause: e,
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new KilnError('path-unusable', `cannot read ${file}: permission denied (${code})`, {
        hint: 'make it readable by this user (e.g. chmod a+r), or run kiln as a user who may read it', cause: e,
      });
    }
    throw e;
  }
  const { parseTreeConfig } = await import('./tree-config.ts');
  return parseTreeConfig(text, file);
}
