// Find and load a tree's kiln.toml. Kept apart from tree-config.ts (the parser) so that
// a tree without kiln.toml never loads smol-toml, zod and the recipe schema: the parser
// is imported only when the file exists.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { config: emptyTreeConfig(undefined), diagnostics: [] };
    }
    throw e;
  }
  const { parseTreeConfig } = await import('./tree-config.ts');
  return parseTreeConfig(text, file);
}
