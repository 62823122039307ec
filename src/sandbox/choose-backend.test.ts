import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBackend, type ChooseInput } from './choose-backend.ts';

const base: ChooseInput = { requested: 'auto', envConfigured: true, isRoot: true, rootlessWorks: true };

test('chooseBackend: a table of requests, privileges and envs', () => {
  const rows: [Partial<ChooseInput>, string][] = [
    [{}, 'chroot'],
    [{ isRoot: false }, 'rootless'],
    [{ isRoot: false, rootlessWorks: false }, 'error:neither sandbox works'],
    [{ envConfigured: false }, 'host'],
    [{ envConfigured: false, isRoot: false, rootlessWorks: false }, 'host'],
    [{ requested: 'host' }, 'host'],
    [{ requested: 'host', isRoot: false }, 'host'],
    [{ requested: 'chroot' }, 'chroot'],
    [{ requested: 'chroot', isRoot: false }, 'error:needs root'],
    [{ requested: 'chroot', envConfigured: false }, 'error:none is configured'],
    [{ requested: 'rootless', isRoot: false }, 'rootless'],
    [{ requested: 'rootless', rootlessWorks: false, rootlessProblem: 'bwrap missing' }, 'error:bwrap missing'],
    [{ requested: 'rootless', envConfigured: false }, 'error:none is configured'],
    [{ onDaemon: true }, 'chroot'],
    [{ onDaemon: true, isRoot: false }, 'rootless'],
    [{ onDaemon: true, envConfigured: false }, 'error:builds only in isolation'],
    [{ onDaemon: true, envConfigured: false, requested: 'host' }, 'host'],
  ];
  for (const [over, want] of rows) {
    const r = chooseBackend({ ...base, ...over });
    const got = r.ok ? r.backend : `error:${r.message}`;
    if (want.startsWith('error:')) {
      assert.ok(got.startsWith('error:') && got.includes(want.slice(6)), `${JSON.stringify(over)} → ${got}, want ${want}`);
      assert.ok(!r.ok && r.hint.length > 0);
    } else assert.equal(got, want, JSON.stringify(over));
  }
});

test('chooseBackend: auto without an env says it builds on the host', () => {
  const r = chooseBackend({ ...base, envConfigured: false, isRoot: false });
  assert.ok(r.ok && r.note?.includes('without isolation ('), r.ok ? r.note : r.message);
  // As root, it says so: the scripts can then change anything on the machine.
  const root = chooseBackend({ ...base, envConfigured: false, isRoot: true });
  assert.ok(root.ok && root.note?.includes('without isolation, as root'), root.ok ? root.note : root.message);
});
