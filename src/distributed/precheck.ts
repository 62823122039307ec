// What a --nats run checks before it plans anything for the workers.

import { KilnError } from '../errors.ts';
import type { PackageSpec } from '../plan/spec.ts';
import type { NatsAccess } from './nats-access.ts';
import { hasInstanceLayer } from '../run/env-id.ts';

/**
 * Before a --nats run starts: jobs in an env with an [instance] layer are refused (workers
 * do not make it), so is a Debian mirror or extra repository that is a folder of this
 * machine (file://: a worker would read its own disk), and a NATS server that is not
 * there (or lacks JetStream) is said.
 */
export async function precheckRemote(toBuild: readonly { readonly spec?: Pick<PackageSpec, 'debian'> | undefined; readonly envId?: string }[], url: string, access?: NatsAccess): Promise<void> {
  // An [instance] layer (kiln.toml) is made where the run is planned; workers do not make it.
  const layered = toBuild.map((n) => n.envId ?? '').find(hasInstanceLayer);
  if (layered !== undefined) {
    throw new KilnError('usage', `--nats: the jobs build in ${layered}, an env with kiln.toml's [instance] layer, which kiln workers do not make yet`, {
      hint: 'build this tree without --nats, or without [instance] in kiln.toml',
    });
  }
  const local = new Set<string>();
  for (const n of toBuild) {
    const suite = n.spec?.debian?.suite;
    if (suite === undefined) continue;
    for (const u of [suite.mirror, ...(suite.extras ?? []).map((x) => x.uri)]) if (u.startsWith('file:')) local.add(u);
  }
  if (local.size > 0) {
    throw new KilnError('usage', `--nats: ${[...local].join(', ')} ${local.size === 1 ? 'is a folder' : 'are folders'} of this machine, which each worker would look for on its own disk`, {
      hint: 'serve it to the workers over http(s) (any web server of the folder will do), or build without --nats',
    });
  }
  // --extra-package (or debian.toml's extra-packages): .debs on this machine's disk.
  const extraDebs = [...new Set(toBuild.flatMap((n) => (n.spec?.debian?.suite.extraPackages ?? []).map((p) => p.where)))];
  if (extraDebs.length > 0) {
    throw new KilnError('usage', `--nats: ${extraDebs.join(', ')}: extra packages are files of this machine, which the workers do not have`, {
      hint: 'build without --nats, or publish the .debs in a signed repository the workers can reach (kiln repo publish, served over http) and give it with --extra-repository',
    });
  }
  const { openCluster } = await import('./cluster.ts');
  await (await openCluster(url, [], { access })).close();
}
