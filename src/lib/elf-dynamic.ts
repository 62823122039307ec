// What an ELF file needs to run, from its program headers: the interpreter (PT_INTERP, the
// ld.so a program is started with) and its dynamic section's DT_NEEDED libraries (with
// DT_RUNPATH/DT_RPATH, where it also looks, and its own DT_SONAME). `kiln rootfs` checks a
// root against it (rootfs/libraries.ts), as BitBake's file-rdeps QA check does. Only the
// headers, the dynamic segment and the string table are read, never the whole file.

export interface ElfDynamic {
  /** PT_INTERP: the dynamic loader's path, for a program (none for a library or a static program). */
  readonly interpreter?: string;
  /** DT_NEEDED, in order. */
  readonly needed: readonly string[];
  /** DT_RUNPATH, else DT_RPATH, split on `:` (`$ORIGIN` unexpanded). */
  readonly runpath: readonly string[];
  readonly soname?: string;
}

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, STRSZ: 10, SONAME: 14, RPATH: 15, RUNPATH: 29 } as const;
/** More than any real file has: a corrupt header must not make kiln read gigabytes. */
const MAX_TABLE = 4 * 1024 * 1024;
/** A string of the string table is read this much at a time, up to MAX_STRING. */
const STRING_CHUNK = 256;
const MAX_STRING = 4096;
/** More DT_NEEDED entries than any real file has. */
const MAX_NEEDED = 1024;

/**
 * The interpreter and dynamic entries of an ELF file, read through `read`; undefined for
 * anything that is not an ELF file, or one too damaged to read (a truncated header).
 */
export async function readElfDynamic(read: ReadAt): Promise<ElfDynamic | undefined> {
  const head = await read(0, 64);
  if (head.length < 52 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const is64 = head[4] === 2;
  if (!is64 && head[4] !== 1) return undefined;
  const le = head[5] === 1;
  if (!le && head[5] !== 2) return undefined;
  if (is64 && head.length < 64) return undefined;
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
  const phoff = word(head, is64 ? 32 : 28);
  const phentsize = u16(head, is64 ? 54 : 42);
  const phnum = u16(head, is64 ? 56 : 44);
  if (phnum === 0 || phentsize < (is64 ? 56 : 32) || phentsize * phnum > MAX_TABLE) return { needed: [], runpath: [] };
  const ph = await read(phoff, phentsize * phnum);
  const segments: { type: number; offset: number; vaddr: number; filesz: number }[] = [];
  for (let i = 0; i + 1 <= phnum && (i + 1) * phentsize <= ph.length; i++) {
    const o = i * phentsize;
    segments.push(is64
      ? { type: u32(ph, o), offset: word(ph, o + 8), vaddr: word(ph, o + 16), filesz: word(ph, o + 32) }
      : { type: u32(ph, o), offset: u32(ph, o + 4), vaddr: u32(ph, o + 8), filesz: u32(ph, o + 16) });
  }
  const interp = segments.find((s) => s.type === PT_INTERP);
  const interpreter = interp === undefined || interp.filesz > 4096 ? undefined : cString(await read(interp.offset, interp.filesz), 0);
  const dyn = segments.find((s) => s.type === PT_DYNAMIC);
  const base = interpreter === undefined || interpreter === '' ? {} : { interpreter };
  if (dyn === undefined || dyn.filesz > MAX_TABLE) return { ...base, needed: [], runpath: [] };
  const d = await read(dyn.offset, dyn.filesz);
  const size = is64 ? 16 : 8;
  const entries: { tag: number; val: number }[] = [];
  for (let o = 0; o + size <= d.length; o += size) {
    const tag = is64 ? Number(le ? d.readBigInt64LE(o) : d.readBigInt64BE(o)) : (le ? d.readInt32LE(o) : d.readInt32BE(o));
    if (tag === DT.NULL) break;
    entries.push({ tag, val: word(d, o + size / 2) });
  }
  const strtab = entries.find((e) => e.tag === DT.STRTAB)?.val;
  const strsz = entries.find((e) => e.tag === DT.STRSZ)?.val;
  // DT_STRTAB is an address: the file offset is that of the loaded segment holding it.
  const load = strtab === undefined ? undefined : segments.find((s) => s.type === PT_LOAD && strtab >= s.vaddr && strtab < s.vaddr + s.filesz);
  if (strtab === undefined || strsz === undefined || load === undefined) return { ...base, needed: [], runpath: [] };
  // Each string where it is, not the whole table (a big program's is megabytes: node's 5 MB).
  const tableAt = load.offset + (strtab - load.vaddr);
  const str = async (at: number): Promise<string> => {
    if (at >= strsz) return '';
    let text = '';
    for (let from = at; from < strsz && text.length < MAX_STRING; from += STRING_CHUNK) {
      const chunk = await read(tableAt + from, Math.min(STRING_CHUNK, strsz - from));
      if (chunk.length === 0) break;
      const end = chunk.indexOf(0);
      text += chunk.subarray(0, end === -1 ? chunk.length : end).toString('latin1');
      if (end !== -1) break;
    }
    return text;
  };
  const runpath = entries.find((e) => e.tag === DT.RUNPATH) ?? entries.find((e) => e.tag === DT.RPATH);
  const soname = entries.find((e) => e.tag === DT.SONAME);
  const needed: string[] = [];
  for (const e of entries.filter((x) => x.tag === DT.NEEDED).slice(0, MAX_NEEDED)) {
    const n = await str(e.val);
    if (n !== '') needed.push(n);
  }
  return {
    ...base,
    needed,
    runpath: runpath === undefined ? [] : (await str(runpath.val)).split(':').filter((p) => p !== ''),
    ...(soname === undefined ? {} : { soname: await str(soname.val) }),
  };
}

/** The NUL-terminated string at `at` (to the end of `b` when there is no NUL). */
function cString(b: Buffer, at: number): string {
  if (at < 0 || at >= b.length) return '';
  const end = b.indexOf(0, at);
  return b.subarray(at, end === -1 ? b.length : end).toString('latin1');
}
