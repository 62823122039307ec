// What a recipe gets when neither it nor kiln.toml's [defaults] says otherwise. Plain
// constants, apart from the parser, so that a run without kiln.toml loads no schema code.

export interface RecipeDefaults {
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly timeoutMs: number | undefined;
  readonly silentTimeoutMs: number | undefined;
  /** A build printing one line over and over for this long is killed (0: never); absent: logs/loop-watch.ts DEFAULT_LOOP_TIMEOUT_MS (30 min). */
  readonly loopTimeoutMs?: number;
  readonly env: string | undefined;
}

export const builtinDefaults: RecipeDefaults = {
  cpus: 1,
  memoryBytes: 512 * 1024 * 1024,
  timeoutMs: undefined,
  silentTimeoutMs: 2 * 60 * 60 * 1000,
  env: undefined,
};
