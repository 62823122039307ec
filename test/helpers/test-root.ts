// A small build root for sandbox tests, assembled in well under a second from the host's
// own programs and their shared libraries (found with ldd): sh, bash, coreutils, getent
// and a few more, /etc/passwd and friends, plus `kiln-probe`, a static helper compiled
// with the host's gcc for what the shell cannot do (abstract unix sockets, touching
// memory). No network, no mmdebstrap. Made once per test process, under the OS temp dir,
// removed when the process exits.
//
// The layout is usr-merged like Debian 12: /bin, /sbin, /lib, /lib64 link into /usr.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const PROGRAMS = [
  'dash', 'bash', 'env', 'ls', 'cat', 'sleep', 'touch', 'head', 'tail', 'tr', 'nohup', 'setsid', 'id', 'mkdir', 'chmod',
  'rm', 'echo', 'true', 'false', 'seq', 'wc', 'grep', 'getent', 'test', '[', 'printf', 'rmdir', 'cp', 'mv', 'stat',
  'uname', 'whoami', 'hostname', 'readlink', 'mount', 'ln', 'dd', 'timeout', 'kill', 'setpriv',
];

export interface TestRoot {
  /** The root directory (use as the env's only layer). */
  readonly path: string;
  /** Whether /usr/bin/kiln-probe is there (the host had gcc with a static libc). */
  readonly probe: boolean;
}

let made: TestRoot | undefined;

export function testRoot(): TestRoot {
  made ??= build();
  return made;
}

function build(): TestRoot {
  const base = mkdtempSync(join(tmpdir(), 'kiln-test-root-'));
  process.on('exit', () => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc', 'root', 'tmp', 'var/tmp']) mkdirSync(join(root, d), { recursive: true });
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) {
    symlinkSync(target, join(root, link));
  }
  chmodSync(join(root, 'tmp'), 0o1777);
  const libs = new Set<string>();
  for (const name of PROGRAMS) {
    const host = findProgram(name);
    if (host === undefined) continue;
    copyFileSync(host, join(root, 'usr/bin', name));
    for (const lib of sharedLibs(host)) libs.add(lib);
  }
  symlinkSync('dash', join(root, 'usr/bin/sh'));
  for (const lib of libs) {
    // Keep the path the binaries ask for (e.g. /lib64/ld-linux-x86-64.so.2) valid through the /usr links.
    const dir = join(root, toUsr(dirname(lib)));
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, basename(lib));
    if (!existsSync(dest)) copyFileSync(lib, dest);
  }
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  // A name server on the loopback: tests start one on the host's 127.0.0.1:53 when they can.
  writeFileSync(join(root, 'etc/resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  const probe = compileProbe(join(base, 'probe'), join(root, 'usr/bin/kiln-probe'));
  return { path: root, probe };
}

function findProgram(name: string): string | undefined {
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = join(d, name);
    if (existsSync(p)) return realpathSync(p);
  }
  return undefined;
}

function sharedLibs(program: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // static
  }
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

/** /lib/x → /usr/lib/x when the host is usr-merged the same way. */
function toUsr(dir: string): string {
  return /^\/(lib|lib64|bin|sbin)(\/|$)/.test(dir) ? `/usr${dir}` : dir;
}

const PROBE_C = String.raw`
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t addr(struct sockaddr_un *a, const char *name) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  strncpy(a->sun_path + 1, name, sizeof a->sun_path - 2); /* leading NUL: abstract */
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "listen") == 0) {
    /* Listen on @name, print "listening", answer each connection with "hello", for 60 s at most. */
    struct sockaddr_un a; socklen_t n = addr(&a, argv[2]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, n) < 0 || listen(s, 8) < 0) { perror("listen"); return 2; }
    printf("listening\n"); fflush(stdout);
    alarm(60);
    for (;;) { int c = accept(s, NULL, NULL); if (c >= 0) { write(c, "hello\n", 6); close(c); } }
  }
  if (argc == 3 && strcmp(argv[1], "connect") == 0) {
    struct sockaddr_un a; socklen_t n = addr(&a, argv[2]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, n) < 0) { printf("refused: %s\n", strerror(errno)); return 1; }
    char buf[16] = {0}; read(s, buf, sizeof buf - 1); printf("got %s", buf); return 0;
  }
  if (argc == 3 && strcmp(argv[1], "alloc") == 0) {
    /* Allocate and touch N MiB, then say how much it got. */
    long mib = atol(argv[2]); long got = 0;
    for (; got < mib; got++) { char *p = malloc(1 << 20); if (!p) break; memset(p, 1, 1 << 20); }
    printf("allocated %ld MiB\n", got); return got == mib ? 0 : 3;
  }
  fprintf(stderr, "usage: kiln-probe listen|connect NAME | alloc MIB\n");
  return 64;
}
`;

function compileProbe(dir: string, dest: string): boolean {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'probe.c'), PROBE_C);
  try {
    execFileSync('gcc', ['-static', '-O1', '-o', dest, join(dir, 'probe.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return true;
  } catch {
    return false;
  }
}
