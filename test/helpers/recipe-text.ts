// recipe.toml text for the trees that tests and benchmarks write on the fly: a name, a
// build script (a TOML multi-line string) and optional build-depends and cpus.

export interface RecipeText {
  readonly name: string;
  readonly script: string;
  readonly deps?: readonly string[];
  /** The summary line; default "test package NAME". */
  readonly summary?: string;
  readonly version?: string;
  readonly cpus?: number;
}

export function recipeText(r: RecipeText): string {
  const deps = r.deps ?? [];
  return [
    `name = "${r.name}"`,
    `version = "${r.version ?? '1.0'}"`,
    `summary = "${r.summary ?? `test package ${r.name}`}"`,
    'license = "MIT"',
    deps.length === 0 ? '' : `build-depends = [${deps.map((d) => `"${d}"`).join(', ')}]`,
    '',
    '[build]',
    `script = """\n${r.script}\n"""`,
    ...(r.cpus === undefined ? [] : [`cpus = ${r.cpus}`]),
    '',
  ].join('\n');
}
