// The shape of Debian relation fields (Build-Depends, Depends, Provides), shared by kiln
// recipes (which use the same syntax) and Debian source packages.

export type VersionOp = '<<' | '<=' | '=' | '>=' | '>>';

/** One package relation: `name[:qual] [(op version)] [arch-list] [<profiles>...]`. */
export interface Relation {
  readonly name: string;
  /** Multiarch qualifier: `any`, `native`, or an arch name. */
  readonly archQualifier?: string;
  readonly constraint?: { readonly op: VersionOp; readonly version: string };
  /** `[amd64 !riscv64]`: the relation applies only on these arches (all positive or all negated). */
  readonly archRestriction?: { readonly negated: boolean; readonly arches: readonly string[] };
  /** `<!nocheck> <stage1 cross>`: disjunction of conjunctions of (possibly negated) profile terms. */
  readonly profiles?: readonly (readonly { readonly negated: boolean; readonly name: string }[])[];
}

/** A comma-separated item: alternatives separated by `|`, the first satisfiable wins. */
export type AltGroup = readonly Relation[];

/** A Provides entry: `name` or `name (= version)`. */
export interface Provide {
  readonly name: string;
  readonly version?: string;
}
