// Test helper: write tar archives member by member with python3's tarfile, including the
// hostile ones (`..`, absolute names, symlink-then-write, hardlinks outside) that GNU tar
// refuses to create.

import { execFileSync } from 'node:child_process';

export interface FakeMember {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'fifo';
  readonly data?: string;
  readonly target?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

const SCRIPT = `
import json, sys, tarfile, io
out, fmt, comp, glob = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
members = json.load(sys.stdin)
formats = {'gnu': tarfile.GNU_FORMAT, 'pax': tarfile.PAX_FORMAT, 'ustar': tarfile.USTAR_FORMAT}
mode = 'w' if comp == 'none' else 'w:' + comp
kinds = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE,
         'hardlink': tarfile.LNKTYPE, 'char': tarfile.CHRTYPE, 'fifo': tarfile.FIFOTYPE}
with tarfile.open(out, mode, format=formats[fmt], pax_headers=glob or None) as tf:
    for m in members:
        ti = tarfile.TarInfo(m['name'])
        ti.type = kinds[m['type']]
        ti.mode = m.get('mode', 0o755 if m['type'] == 'dir' else 0o644)
        ti.uid = m.get('uid', 0); ti.gid = m.get('gid', 0)
        ti.mtime = 1700000000
        if m['type'] in ('symlink', 'hardlink'): ti.linkname = m['target']
        if m['type'] == 'char': ti.devmajor, ti.devminor = 1, 3
        data = m.get('data', '').encode()
        if m['type'] == 'file':
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        else:
            tf.addfile(ti)
`;

/** Write `members` to `file` as a tar (format gnu/pax/ustar; compression none/gz/xz; `paxGlobal`: a pax global header's keywords, pax format). */
export function writeTarball(file: string, members: readonly FakeMember[], options: { format?: 'gnu' | 'pax' | 'ustar'; compression?: 'none' | 'gz' | 'xz'; paxGlobal?: Readonly<Record<string, string>> } = {}): void {
  execFileSync('python3', ['-c', SCRIPT, file, options.format ?? 'gnu', options.compression ?? 'none', JSON.stringify(options.paxGlobal ?? {})], { input: JSON.stringify(members) });
}

/** A tiny Debian-looking root: os-release (through the usual relative symlink) and a dpkg status. */
export function tinyRoot(options: { codename?: string; arch?: string } = {}): FakeMember[] {
  return [
    { name: './', type: 'dir' },
    { name: './etc/', type: 'dir' },
    { name: './usr/', type: 'dir' },
    { name: './usr/lib/', type: 'dir' },
    { name: './usr/sbin/', type: 'dir' },
    { name: './usr/bin/', type: 'dir' },
    { name: './bin', type: 'symlink', target: 'usr/bin' },
    { name: './usr/lib/os-release', type: 'file', data: `PRETTY_NAME="Debian GNU/Linux"\nVERSION_CODENAME=${options.codename ?? 'bookworm'}\nID=debian\n` },
    { name: './etc/os-release', type: 'symlink', target: '../usr/lib/os-release' },
    { name: './etc/localtime', type: 'symlink', target: '/usr/share/zoneinfo/Etc/UTC' },
    { name: './var/', type: 'dir' },
    { name: './var/lib/', type: 'dir' },
    { name: './var/lib/dpkg/', type: 'dir' },
    {
      name: './var/lib/dpkg/status', type: 'file',
      data: `Package: tzdata\nStatus: install ok installed\nArchitecture: all\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: ${options.arch ?? 'amd64'}\n\n`,
    },
    { name: './usr/bin/su', type: 'file', data: 'not really su\n', mode: 0o4755 },
    { name: './usr/bin/su2', type: 'hardlink', target: './usr/bin/su' },
    { name: './home/', type: 'dir' },
    { name: './home/builder/', type: 'dir', uid: 1234, gid: 1234, mode: 0o700 },
    { name: './dev/', type: 'dir' },
    { name: './dev/null', type: 'char', mode: 0o666 },
  ];
}
