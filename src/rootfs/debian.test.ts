import assert from 'node:assert/strict';
import { test } from 'node:test';
import { debianRootArgv } from './debian.ts';

const base = { suite: 'trixie', arch: 'riscv64', variant: 'minbase', mirror: 'http://deb.example/debian', include: ['hello', 'kilnpkg'], target: '/out/.root.kiln-tmp-x/root' };

test('debianRootArgv: the suite from the mirror with the packages, no extra source without a repository', () => {
  assert.deepEqual(debianRootArgv(base), [
    'mmdebstrap', '--variant=minbase', '--arch=riscv64', '--include=hello,kilnpkg', 'trixie', '/out/.root.kiln-tmp-x/root', 'http://deb.example/debian',
  ]);
});

test('debianRootArgv: kiln\'s repository as a second source (copy:, signed-by the exported key), taken out of the finished root', () => {
  const argv = debianRootArgv({ ...base, repo: { dir: '/st/repo', keyFile: '/out/.root.kiln-tmp-x/kiln-repo.gpg' } });
  const line = 'deb [signed-by=/out/.root.kiln-tmp-x/kiln-repo.gpg] copy:/st/repo trixie main';
  assert.deepEqual(argv.slice(-4), ['trixie', '/out/.root.kiln-tmp-x/root', 'http://deb.example/debian', line]);
  const hook = argv.find((a) => a.startsWith('--customize-hook='));
  assert.ok(hook !== undefined && argv.indexOf(hook) < argv.indexOf('trixie'), 'the hook is an option, before the suite');
  assert.ok(hook.includes(`grep -vxF '${line}' "$1/etc/apt/sources.list"`), hook);
});
