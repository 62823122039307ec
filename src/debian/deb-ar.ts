// The outer layer of a .deb: an ar archive of `debian-binary`, `control.tar.*` and
// `data.tar.*` (deb(5)). Each member's header fields and the sha256 of its bytes, so a
// comparison can tell "the compressed data differs" or "only the ar timestamps differ"
// apart from differences inside the tarballs. Reads the headers and streams each member
// through the hash; the file is never loaded whole.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { KilnError } from '../errors.ts';

export interface ArMember {
  /** Without ar's padding and GNU's trailing `/`. */
  readonly name: string;
  readonly mtime: number;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly size: number;
  readonly sha256: string;
}

const MAGIC = '!<arch>\n';
const HEADER = 60;

/** Parse one 60-byte ar member header (pure). */
export function parseArHeader(h: Buffer, source: string, at: number): Omit<ArMember, 'sha256'> {
  if (h.length < HEADER || h.subarray(58, 60).toString('latin1') !== '`\n') {
    throw new KilnError('deb-invalid', `${source}: bad ar member header at byte ${at}`, { hint: 'the .deb is damaged or not a Debian package; fetch or build it again' });
  }
  const field = (start: number, len: number): string => h.subarray(start, start + len).toString('latin1').trim();
  const num = (start: number, len: number, radix: number): number => {
    const t = field(start, len);
    return t === '' ? 0 : parseInt(t, radix);
  };
  const size = num(48, 10, 10);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new KilnError('deb-invalid', `${source}: ar member at byte ${at} has an invalid size "${field(48, 10)}"`, { hint: 'the .deb is damaged; fetch or build it again' });
  }
  return { name: field(0, 16).replace(/\/$/, ''), mtime: num(16, 12, 10), uid: num(28, 6, 10), gid: num(34, 6, 10), mode: num(40, 8, 8), size };
}

/** Every member of the ar archive at `path`, in order. */
export async function readArMembers(path: string): Promise<ArMember[]> {
  await using fh = await open(path, 'r');
  const { size: total } = await fh.stat();
  const magic = Buffer.alloc(MAGIC.length);
  await fh.read(magic, 0, MAGIC.length, 0);
  if (magic.toString('latin1') !== MAGIC) {
    throw new KilnError('deb-invalid', `${path}: not a Debian binary package (no ar archive header)`, { hint: 'name a .deb file built by dpkg-deb' });
  }
  const out: ArMember[] = [];
  const chunk = Buffer.alloc(1 << 20);
  let pos = MAGIC.length;
  while (pos < total) {
    if (total - pos < HEADER) {
      // A trailing newline is padding; anything else is damage.
      if (total - pos === 1) break;
      throw new KilnError('deb-invalid', `${path}: truncated ar member header at byte ${pos}`, { hint: 'the .deb is damaged; fetch or build it again' });
    }
    const h = Buffer.alloc(HEADER);
    await fh.read(h, 0, HEADER, pos);
    const m = parseArHeader(h, path, pos);
    const start = pos + HEADER;
    if (start + m.size > total) {
      throw new KilnError('deb-invalid', `${path}: ar member ${m.name} runs past the end of the file (truncated download?)`, { hint: 'the .deb is damaged; fetch or build it again' });
    }
    const hash = createHash('sha256');
    for (let off = 0; off < m.size;) {
      const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, m.size - off), start + off);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      off += bytesRead;
    }
    out.push({ ...m, sha256: hash.digest('hex') });
    pos = start + m.size + (m.size % 2);
  }
  return out;
}
