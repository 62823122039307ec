// The small outputs' tar archive, made in process (most packages' outputs are a few files):
// byte for byte what GNU tar writes for them with kiln's options, so that an artifact's
// bytes do not depend on which of the two packed it (archive.ts packDir).

import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** In-process packing only below these sizes; larger outputs stream through GNU tar. */
const SMALL_BYTES = 1 << 20;
const SMALL_ENTRIES = 256;
const BLOCK = 512;
const RECORD = 20 * BLOCK; // GNU tar's default blocking factor

/**
 * The uncompressed GNU tar archive of `top` (names in `dir`) with the members GNU tar
 * would write for `--format=gnu --sort=name --mtime=@mtime --owner=0 --group=0
 * --numeric-owner`, or undefined when the tree is not small and simple enough (then GNU
 * tar packs it): long names or link targets (GNU tar writes ././@LongLink members),
 * hard links, special files, or more than SMALL_BYTES / SMALL_ENTRIES.
 */
export async function smallTar(dir: string, top: readonly string[], mtime: number, signal?: AbortSignal): Promise<Buffer | undefined> {
  const blocks: Buffer[] = [];
  let bytes = 0;
  let entries = 0;
  const add = async (rel: string): Promise<boolean> => {
    signal?.throwIfAborted();
    if (++entries > SMALL_ENTRIES) return false;
    const abs = join(dir, rel);
    const st = await lstat(abs);
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) {
      const header = tarHeader(`${rel}/`, mode, 0, mtime, '5', '');
      if (header === undefined) return false;
      blocks.push(header);
      // GNU tar --sort=name: a directory's entries in byte order, each right after it.
      const names = (await readdir(abs)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const name of names) if (!(await add(`${rel}/${name}`))) return false;
      return true;
    }
    if (st.isSymbolicLink()) {
      const header = tarHeader(rel, mode, 0, mtime, '2', await readlink(abs));
      if (header === undefined) return false;
      blocks.push(header);
      return true;
    }
    if (!st.isFile() || st.nlink > 1) return false;
    bytes += st.size;
    if (bytes > SMALL_BYTES) return false;
    const data = await readFile(abs);
    if (data.length !== st.size) return false; // changed under us: let GNU tar have a go
    const header = tarHeader(rel, mode, data.length, mtime, '0', '');
    if (header === undefined) return false;
    blocks.push(header, data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) blocks.push(Buffer.alloc(pad));
    return true;
  };
  for (const name of top) if (!(await add(name))) return undefined;
  const length = blocks.reduce((n, b) => n + b.length, 0) + 2 * BLOCK;
  const total = Math.ceil(length / RECORD) * RECORD;
  return Buffer.concat([...blocks, Buffer.alloc(total - (length - 2 * BLOCK))], total);
}

/** One GNU-format header block, or undefined when a field does not fit (GNU tar would use a LongLink). */
function tarHeader(name: string, mode: number, size: number, mtime: number, type: '0' | '2' | '5', link: string): Buffer | undefined {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(link) > 100 || mtime < 0 || mtime > 0o77777777777) return undefined;
  h.write(name, 0);
  const octal = (at: number, width: number, value: number): void => void h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
  octal(100, 8, mode);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, mtime);
  h.write(type, 156, 'latin1');
  h.write(link, 157);
  h.write('ustar  \0', 257, 'latin1'); // the GNU magic and version
  h.fill(0x20, 148, 156); // the checksum is summed with its own field as spaces
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}
