// A streaming tar reader for the members of a .deb (what `dpkg-deb --fsys-tarfile` and
// `--ctrl-tarfile` print): every member's metadata (type, mode, owner, mtime, link target)
// and the sha256 of its data, and the data itself for the members the caller asks for.
// Nothing is written to disk, so a hostile archive cannot place files anywhere.
//
// Formats: ustar, GNU long names/links (`L`/`K`) and pax headers (`x`, `g` ignored), which
// is what dpkg-deb writes. Data arrives in chunks and is hashed as it passes; only kept
// members are buffered, up to `maxKeepBytes` each.
import { createHash } from 'node:crypto';
import { KilnError } from '../errors.ts';
import { parsePax, tarChecksumOk as checksumOk, tarNumber as numeric, tarString as cstr } from '../lib/tar-header.ts';

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** Normalised: no leading `./` or `/`, no trailing `/`; the root itself is `.`. */
  readonly path: string;
  readonly type: TarEntryType;
  /** Permission bits with setuid/setgid/sticky (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Seconds since the epoch (pax may give fractions). */
  readonly mtime: number;
  readonly size: number;
  /** Symlink or hardlink target ('' otherwise); hardlink targets are normalised like paths. */
  readonly link: string;
  /** `major,minor` for char/block devices, '' otherwise. */
  readonly device: string;
  /** sha256 of the data (of nothing, for members without data). */
  readonly sha256: string;
}

export interface ReadTarOptions {
  /** Source named in errors. */
  readonly source: string;
  /** Buffer the data of the members this returns true for. */
  readonly keep?: (path: string) => boolean;
  /** A kept member larger than this is hashed but not buffered. Default 64 MiB. */
  readonly maxKeepBytes?: number;
}

export interface TarContents {
  readonly entries: readonly TarEntry[];
  /** Data of the kept members, by path. */
  readonly data: ReadonlyMap<string, Buffer>;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink',
  '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** 0o755 → `0755`, as ls and tar print modes. */
export const octalMode = (m: number): string => m.toString(8).padStart(4, '0');

/** `./usr/bin/` → `usr/bin`; `./` → `.`. */
export function normaliseTarPath(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return parts.length === 0 ? '.' : parts.join('/');
}

/** A FIFO of chunks that hands out exact byte counts without re-concatenating everything. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }
  /** Up to n bytes, as the chunks they are in (no copy). */
  *drain(n: number): Generator<Buffer> {
    while (n > 0 && this.chunks.length > 0) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        this.chunks.shift();
        this.length -= c.length;
        n -= c.length;
        yield c;
      } else {
        this.chunks[0] = c.subarray(n);
        this.length -= n;
        yield c.subarray(0, n);
        n = 0;
      }
    }
  }
  take(n: number): Buffer {
    return Buffer.concat([...this.drain(n)]);
  }
}

function invalid(source: string, why: string): KilnError {
  return new KilnError('deb-invalid', `${source}: ${why}`, { hint: 'the .deb is damaged or not a Debian package; fetch or build it again' });
}

/** Read every member of an uncompressed tar stream. */
export async function readTar(stream: AsyncIterable<Buffer | string>, options: ReadTarOptions): Promise<TarContents> {
  const { source } = options;
  const keep = options.keep ?? (() => false);
  const maxKeep = options.maxKeepBytes ?? 64 * 1024 * 1024;
  const entries: TarEntry[] = [];
  const data = new Map<string, Buffer>();
  const q = new ByteQueue();
  let ended = false;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  // What is being read after a header: a member's data, or the body of a long-name/pax header.
  type Reading =
    | { kind: 'member'; base: Omit<TarEntry, 'sha256'>; left: number; pad: number; hash: ReturnType<typeof createHash>; kept: Buffer[] | undefined }
    | { kind: 'meta'; flag: string; left: number; pad: number; bufs: Buffer[] };
  let current: Reading | undefined;

  const finishCurrent = (): void => {
    const c = current!;
    current = undefined;
    if (c.kind === 'meta') {
      const body = Buffer.concat(c.bufs);
      if (c.flag === 'L') longName = cstr(body, 0, body.length);
      else if (c.flag === 'K') longLink = cstr(body, 0, body.length);
      else if (c.flag === 'x') pax = parsePax(body);
      return;
    }
    entries.push({ ...c.base, sha256: c.hash.digest('hex') });
    if (c.kept !== undefined) data.set(c.base.path, Buffer.concat(c.kept));
  };

  const step = (): boolean => {
    if (current !== undefined) {
      if (current.left > 0) {
        for (const part of q.drain(current.left)) {
          current.left -= part.length;
          if (current.kind === 'meta') current.bufs.push(part);
          else {
            current.hash.update(part);
            current.kept?.push(part);
          }
        }
        if (current.left > 0) return false;
      }
      if (current.pad > 0) {
        for (const part of q.drain(current.pad)) current.pad -= part.length;
        if (current.pad > 0) return false;
      }
      finishCurrent();
      return true;
    }
    if (q.length < 512) return false;
    const h = q.take(512);
    if (h.every((b) => b === 0)) {
      ended = true;
      return false;
    }
    if (!checksumOk(h)) throw invalid(source, `member ${entries.length + 1} has a bad tar header checksum`);
    const flag = String.fromCharCode(h[156] ?? 0);
    const headerSize = numeric(h, 124, 12);
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      if (headerSize > 1 << 20) throw invalid(source, `a tar ${flag} header of ${headerSize} bytes`);
      current = { kind: 'meta', flag, left: headerSize, pad: (512 - (headerSize % 512)) % 512, bufs: [] };
      return true;
    }
    const type = TYPES[flag];
    if (type === undefined) throw invalid(source, `tar member type "${flag}" is not supported`);
    const ustar = h.subarray(257, 262).toString('latin1') === 'ustar';
    const prefix = ustar ? cstr(h, 345, 155) : '';
    const baseName = cstr(h, 0, 100);
    const rawName = pax.get('path') ?? longName ?? (prefix === '' ? baseName : `${prefix}/${baseName}`);
    const rawLink = pax.get('linkpath') ?? longLink ?? cstr(h, 157, 100);
    const size = pax.has('size') ? Number(pax.get('size')) : headerSize;
    const carries = type === 'file' ? size : 0;
    const path = normaliseTarPath(rawName);
    const base = {
      path,
      type,
      mode: numeric(h, 100, 8) & 0o7777,
      uid: pax.has('uid') ? Number(pax.get('uid')) : numeric(h, 108, 8),
      gid: pax.has('gid') ? Number(pax.get('gid')) : numeric(h, 116, 8),
      uname: pax.get('uname') ?? (ustar ? cstr(h, 265, 32) : ''),
      gname: pax.get('gname') ?? (ustar ? cstr(h, 297, 32) : ''),
      mtime: pax.has('mtime') ? Number(pax.get('mtime')) : numeric(h, 136, 12),
      size: carries,
      link: type === 'hardlink' ? normaliseTarPath(rawLink) : type === 'symlink' ? rawLink : '',
      device: type === 'char' || type === 'block' ? `${numeric(h, 329, 8)},${numeric(h, 337, 8)}` : '',
    };
    longName = undefined;
    longLink = undefined;
    pax = new Map();
    // Hardlinks etc. may still declare data in odd archives: skip whatever the header says.
    const skip = type === 'file' ? size : headerSize;
    const kept = type === 'file' && size <= maxKeep && keep(path) ? [] as Buffer[] : undefined;
    current = { kind: 'member', base, left: carries, pad: (skip - carries) + ((512 - (skip % 512)) % 512), hash: createHash('sha256'), kept };
    return true;
  };

  for await (const raw of stream) {
    if (ended) continue; // drain the rest (zero blocks) so the writer is not blocked
    q.push(typeof raw === 'string' ? Buffer.from(raw) : raw);
    while (!ended && step());
  }
  if (!ended) {
    while (step());
    if (current !== undefined || (!ended && q.length > 0) || (!ended && entries.length === 0)) {
      throw invalid(source, 'the tar stream ends in the middle of a member (truncated archive?)');
    }
  }
  return { entries, data };
}

