// The fields of a tar header block (ustar, GNU and pax), shared by the tar readers: the
// safety scan of imported archives (envs/tar-scan.ts) and the .deb reader (debian/deb-tar.ts).

/** A NUL-terminated string field. */
export function tarString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return (nul < 0 ? field : field.subarray(0, nul)).toString('utf8');
}

/** An octal number field, or GNU base-256 (big-endian, high bit set as a marker). */
export function tarNumber(buf: Buffer, start: number, len: number): number {
  const field = buf.subarray(start, start + len);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let v = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + (field[i] ?? 0);
    return v;
  }
  const text = tarString(buf, start, len).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** Does the 512-byte header carry the right checksum (its own field counted as spaces)? */
export function tarChecksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] ?? 0);
  return tarNumber(h, 148, 8) === sum;
}

/** The records of a pax extended header (`len key=value\n`…). */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(data.subarray(at, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}
