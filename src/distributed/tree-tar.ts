// A package folder (or some of its files) as the tar a job message names: sorted, with
// fixed times and owners and without version-control folders, so that the same folder is
// the same blob whatever machine or moment packs it. Named files are followed through
// links (a .dsc's orig tarball is often one).

import { spawn } from 'node:child_process';

/** Write `dir` (or `names` in it) to the tar file `tar`. */
export function packTree(dir: string, names: readonly string[] | undefined, tar: string): Promise<void> {
  const members = names === undefined ? ['.'] : names.length === 0 ? ['--files-from=/dev/null'] : ['--dereference', '--', ...names];
  return new Promise<void>((ok, fail) => {
    const child = spawn('tar', ['--create', `--file=${tar}`, `--directory=${dir}`, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '--exclude-vcs', ...members], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`tar of ${dir} exited ${code}: ${err.trim()}`))));
  });
}
