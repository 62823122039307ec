import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../errors.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { precheckRemote } from './precheck.ts';

const debian = (mirror: string, extras: string[] = []): { spec: Pick<PackageSpec, 'debian'> } =>
  ({ spec: { debian: { suite: { suite: 'bookworm', mirror, extras: extras.map((uri) => ({ uri, suite: 'x', components: ['main'], notAutomatic: false, added: {} })) } } } }) as unknown as { spec: Pick<PackageSpec, 'debian'> };

test('precheckRemote: a file:// Debian mirror or extra repository is refused before NATS is asked (a worker would read its own disk)', async () => {
  for (const [what, n, named] of [
    ['mirror', debian('file:///srv/mirror/debian'), 'file:///srv/mirror/debian'],
    ['extra repository', debian('http://mirror.example/debian', ['http://ok.example/debian', 'file:///srv/kiln/repo']), 'file:///srv/kiln/repo'],
  ] as const) {
    await assert.rejects(precheckRemote([{}, n], 'nats://127.0.0.1:1'), (e: unknown) => isKilnError(e) && e.code === 'usage' && e.message.startsWith(`--nats: ${named} is a folder of this machine`), what);
  }
});

test('precheckRemote: jobs in an env with an [instance] layer are refused (workers do not make it); a profiles suffix is not one', async () => {
  await assert.rejects(precheckRemote([{ envId: 'bookworm-amd64@v1+stable.0123456789ab' }], 'nats://127.0.0.1:1'), (e: unknown) => isKilnError(e) && e.code === 'usage' && /\[instance\] layer/.test(e.message));
  // Past the layer check, it asks NATS (nobody on port 1): server-unreachable.
  await assert.rejects(precheckRemote([{ envId: 'host:abc+profiles:nocheck' }], 'nats://127.0.0.1:1'), (e: unknown) => isKilnError(e) && e.code === 'server-unreachable');
});

test('precheckRemote: --extra-package .debs are refused, named where they were given (files of this machine the workers do not have)', async () => {
  const n = debian('http://mirror.example/debian');
  (n.spec.debian!.suite as { extraPackages?: unknown }).extraPackages = [{ where: '--extra-package /tmp/debs', path: '/tmp/debs/x_1_all.deb' }];
  await assert.rejects(precheckRemote([n], 'nats://127.0.0.1:1'), (e: unknown) => isKilnError(e) && e.code === 'usage' && e.message.startsWith('--nats: --extra-package /tmp/debs: extra packages are files of this machine'));
});
