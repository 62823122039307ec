// What a job's env id is made of: the env it builds in (`NAME@VERSION`, or `host:…`), then
// what a run adds to it. `+NAME.HASH` is kiln.toml's [instance] layer (envs/instance-layer.ts)
// and `+profiles:A,B` the run's build profiles (part of every key). One place for the form,
// read by the planner and by kiln's workers.

/** The env id a job is planned for, with the run's profiles (sorted, as the planner keeps them). */
export function envIdWithProfiles(envId: string, profiles: readonly string[]): string {
  return profiles.length === 0 ? envId : `${envId}+profiles:${profiles.join(',')}`;
}

/** The env a job's worker builds in: its id without the run's profiles or an [instance] layer (pure). */
export function workerEnvId(envId: string): string {
  const plus = envId.indexOf('+');
  return plus === -1 ? envId : envId.slice(0, plus);
}

/** Whether the id names an [instance] layer, which kiln's workers do not make (pure). */
export function hasInstanceLayer(envId: string): boolean {
  return /\+(?!profiles:)/.test(envId);
}

/**
 * The `--env` a worker needs for jobs planned in `envId` (`NAME@VERSION`): none for the host
 * (a worker of the same release), else the env's name, which it must have in the same version (pure).
 */
export function workerEnvFlag(envId: string): string {
  if (envId.startsWith('host:')) return '';
  return ` --env ${envId.split('@')[0]}`;
}

/** The `kiln worker` command that takes the jobs of `arch` in `envId` from `url` (`hostArch`: this machine's). */
export function workerCommand(url: string, arch: string, envId: string, hostArch: string): string {
  return `kiln worker --nats ${url}${arch === hostArch ? '' : ` --arch ${arch}`}${workerEnvFlag(envId)}`;
}
