// The build user's passwd entry: added when the env lacks it, its home following the HOME
// of the run (a Debian build's nonexistent one), an env's own entry for the uid left alone.

import assert from 'node:assert/strict';
import { chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_BUILD_HOME, ensureBuildUser, passwdHome, setBuildUserHome, withBuildUser, withShadowEntry } from './build-user.ts';

const ids = { uid: 64000, gid: 64000 };
const ROOT = 'root:x:0:0:root:/root:/bin/bash';
const KILN = (home: string) => `kiln:x:64000:64000:kiln build user:${home}:/bin/sh`;

test('withBuildUser: adds, moves the home of kiln\'s own entry, leaves an env\'s entry and an unchanged one alone', () => {
  const cases: { text: string | undefined; home: string; want: string | undefined }[] = [
    { text: `${ROOT}\n`, home: '/kiln/home', want: `${ROOT}\n${KILN('/kiln/home')}\n` },
    { text: undefined, home: '/kiln/home', want: `root:x:0:0:root:/root:/bin/sh\n${KILN('/kiln/home')}\n` },
    { text: `${ROOT}\n${KILN('/kiln/home')}\nlate:x:1:1::/:/bin/sh\n`, home: '/kiln-nonexistent', want: `${ROOT}\n${KILN('/kiln-nonexistent')}\nlate:x:1:1::/:/bin/sh\n` },
    { text: `${ROOT}\n${KILN('/kiln-nonexistent')}\n`, home: '/kiln/home', want: `${ROOT}\n${KILN('/kiln/home')}\n` },
    { text: `${ROOT}\n${KILN('/kiln/home')}\n`, home: '/kiln/home', want: undefined },
    { text: `${ROOT}\nbuilder:x:64000:64000::/home/builder:/bin/sh\n`, home: '/kiln-nonexistent', want: undefined },
  ];
  for (const c of cases) assert.equal(withBuildUser(c.text, ids, c.home), c.want, `${c.text} → ${c.home}`);
});

test('passwdHome: an absolute HOME without : or newline, else the recipes\' default', () => {
  const cases: [string | undefined, string][] = [
    ['/kiln-nonexistent', '/kiln-nonexistent'], ['/kiln/home', '/kiln/home'], [undefined, DEFAULT_BUILD_HOME],
    ['relative', DEFAULT_BUILD_HOME], ['/a:b', DEFAULT_BUILD_HOME], ['/a\nroot::0:0::/:/bin/sh', DEFAULT_BUILD_HOME],
  ];
  for (const [home, want] of cases) assert.equal(passwdHome(home), want, String(home));
});

test('ensureBuildUser then setBuildUserHome: the upper layer\'s passwd follows the run\'s HOME, an entry apt added meanwhile stays', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-build-user-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lower = join(dir, 'lower');
  const upper = join(dir, 'upper');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await mkdir(upper);
  await writeFile(join(lower, 'etc/passwd'), `${ROOT}\n`);
  await writeFile(join(lower, 'etc/group'), 'root:x:0:\n');
  await ensureBuildUser([lower], upper);
  const passwd = () => readFile(join(upper, 'etc/passwd'), 'utf8');
  assert.equal(await passwd(), `${ROOT}\n${KILN('/kiln/home')}\n`);
  assert.equal(await readFile(join(upper, 'etc/group'), 'utf8'), 'root:x:0:\nkiln:x:64000:\n');
  // A root run (apt's adduser) adds a user to the upper layer's copy.
  await writeFile(join(upper, 'etc/passwd'), `${await passwd()}svc:x:100:65534::/nonexistent:/usr/sbin/nologin\n`);
  await setBuildUserHome(upper, '/kiln-nonexistent');
  assert.equal(await passwd(), `${ROOT}\n${KILN('/kiln-nonexistent')}\nsvc:x:100:65534::/nonexistent:/usr/sbin/nologin\n`);
  await setBuildUserHome(upper, '/kiln/home');
  assert.match(await passwd(), /^kiln:x:64000:64000:kiln build user:\/kiln\/home:\/bin\/sh$/m);
  // An env with its own entry for the uid: nothing in the upper layer, nothing to change.
  const upper2 = join(dir, 'upper2');
  await mkdir(upper2);
  await writeFile(join(lower, 'etc/passwd'), `${ROOT}\nbuilder:x:64000:64000::/home/builder:/bin/sh\n`);
  await ensureBuildUser([lower], upper2);
  await setBuildUserHome(upper2, '/kiln-nonexistent');
  await assert.rejects(readFile(join(upper2, 'etc/passwd')), { code: 'ENOENT' });
});

test('ensureBuildUser: the build user gets a locked /etc/shadow entry (su refuses a user shadow lacks), with the env file\'s owner and mode; an env without shadow gets none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-build-user-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lower = join(dir, 'lower');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await writeFile(join(lower, 'etc/passwd'), `${ROOT}\n`);
  await writeFile(join(lower, 'etc/shadow'), 'root:*:20000:0:99999:7:::\n', { mode: 0o640 });
  await chown(join(lower, 'etc/shadow'), 0, 42);
  const upper = join(dir, 'upper');
  await mkdir(upper);
  await ensureBuildUser([lower], upper);
  assert.equal(await readFile(join(upper, 'etc/shadow'), 'utf8'), 'root:*:20000:0:99999:7:::\nkiln:!::0:99999:7:::\n');
  const st = await stat(join(upper, 'etc/shadow'));
  assert.equal(st.mode & 0o777, 0o640);
  assert.equal(st.gid, 42);
  assert.equal(withShadowEntry('root:*:1::::::\nkiln:*:1::::::\n'), undefined);
  // An env with its own user for the uid (another name): no kiln entry in its shadow.
  await writeFile(join(lower, 'etc/passwd'), `${ROOT}\nbuilder:x:64000:64000::/home/builder:/bin/sh\n`);
  const upper3 = join(dir, 'upper3');
  await mkdir(upper3);
  await ensureBuildUser([lower], upper3);
  await assert.rejects(readFile(join(upper3, 'etc/shadow')), { code: 'ENOENT' });
  const bare = join(dir, 'bare');
  await mkdir(join(bare, 'etc'), { recursive: true });
  const upper2 = join(dir, 'upper2');
  await mkdir(upper2);
  await ensureBuildUser([bare], upper2);
  await assert.rejects(readFile(join(upper2, 'etc/shadow')), { code: 'ENOENT' });
});
