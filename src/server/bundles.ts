// Build bundles: a tar (plain, .gz, .zst or .xz) of a recipe tree, uploaded by a tenant
// with PUT /api/v1/bundles/{id} and built with POST /builds {"bundle": id}.
//
// Receiving one is all-or-nothing:
//   body ─► temp file (at most maxUploadBytes) ─► member list, decompressed with a byte cap
//   ─► checkBundleMembers (bundle rules, then the shared tar-scan rules) ─► GNU tar extracts
//   into a temp dir ─► setuid/setgid bits dropped ─► rename into <state>/bundles/<tenant>/<id>.
// A refused bundle is a 4xx naming the member, and nothing of it stays on disk.
//
// The member checks are envs/tar-scan.ts's (no `..`, no absolute names, no writing
// through a symlink, links must stay inside, hardlinks name an earlier member); a bundle
// adds: no device nodes or fifos, no absolute symlink targets (outside a chroot they point
// at the host), and archive-bomb bounds on the number of members and their total size.

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { unpackArchive } from '../cache/archive.ts';
import { detectCompression } from '../envs/root-tarball.ts';
import { extractedTreeProblem } from '../envs/extracted-tree.ts';
import { checkMembers, normalizeMemberPath, readTarMembers, type TarMember } from '../envs/tar-scan.ts';
import { KilnError } from '../errors.ts';
import { readDecompressed } from '../lib/decompress.ts';
import { pidAlive } from '../lib/pid-alive.ts';
import { parsePax, tarChecksumOk, tarNumber, tarString } from '../lib/tar-header.ts';

export interface BundleLimits {
  /** Bytes of the upload as sent (compressed). */
  readonly maxUploadBytes: number;
  /** Sum of the members' sizes once extracted. */
  readonly maxExtractedBytes: number;
  /** Members of the archive (files, directories, links). */
  readonly maxEntries: number;
  /** All of one tenant's stored bundles together, as extracted (kiln serve --bundle-quota); 0: no limit. */
  readonly tenantQuotaBytes?: number;
}

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = {
  maxUploadBytes: 64 * 1024 * 1024,
  maxExtractedBytes: 256 * 1024 * 1024,
  maxEntries: 20_000,
};

/** Bundle ids: what PUT /bundles/{id} accepts (also a directory name). */
export const BUNDLE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function bundlesRoot(stateRoot: string): string {
  return join(stateRoot, 'bundles');
}

export function bundleDir(stateRoot: string, tenant: string, id: string): string {
  return join(bundlesRoot(stateRoot), tenant, id);
}

function tooLarge(message: string, hint: string): KilnError {
  return new KilnError('too-large', message, { hint });
}

function refused(label: string, why: string): KilnError {
  return new KilnError('unsafe-path', `${label}: refused: ${why}; nothing was extracted`, {
    hint: 'a bundle holds only files, directories and links that stay inside it (pack the tree with `tar -C TREE -czf bundle.tgz .`)',
  });
}

/**
 * Judge a bundle's member list: the bundle rules and bounds first, then the shared tar-scan
 * rules. Throws a KilnError naming the first offending member; returns the totals.
 */
export function checkBundleMembers(members: readonly TarMember[], label: string, limits: BundleLimits): { entries: number; bytes: number } {
  let bytes = 0;
  for (const [i, m] of members.entries()) {
    const name = normalizeMemberPath(m.name) || '.';
    if (i + 1 > limits.maxEntries) throw overEntries(label, name, i + 1, limits.maxEntries);
    switch (m.type) {
      case 'char':
      case 'block':
        throw refused(label, `member "${name}" is a device node`);
      case 'fifo':
        throw refused(label, `member "${name}" is a fifo`);
      case 'symlink':
        if (m.linkName.startsWith('/')) throw refused(label, `symlink "${name}" -> "${m.linkName}" points outside the bundle (an absolute target)`);
        break;
      case 'file':
      case 'hardlink':
      case 'dir':
        break;
    }
    bytes += m.size;
    if (bytes > limits.maxExtractedBytes) throw overExtracted(label, name, m.size, limits.maxExtractedBytes);
  }
  checkMembers(members, label);
  return { entries: members.length, bytes };
}

function overEntries(label: string, name: string, n: number, max: number): KilnError {
  return tooLarge(`${label}: member "${name}" is number ${n}, over the limit of ${max} members; nothing was extracted`, 'bundle only the recipe tree (no build outputs or VCS data), or ask the operator to raise --bundle-max-entries');
}

function overExtracted(label: string, name: string, size: number, max: number): KilnError {
  return tooLarge(`${label}: member "${name}" (${size} bytes) takes the extracted size over the limit of ${max} bytes; nothing was extracted`, 'bundle only the recipe tree, or ask the operator to raise --bundle-max-extracted');
}

/**
 * The decompressed tar stream passed through unchanged, its headers followed on the way:
 * the member that takes the member count or the sum of sizes over the limit is refused by
 * its name as soon as its header goes by, before its data is decompressed (a member of a
 * few GB stops at its header, where the byte cap alone could only say "decompresses to
 * more than"). Anything odd in the stream (a bad header, a huge pax record) is left to
 * readTarMembers, which says what is wrong with it.
 */
export async function* guardMemberSizes(stream: AsyncIterable<Buffer>, label: string, limits: Pick<BundleLimits, 'maxEntries' | 'maxExtractedBytes'>): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let skip = 0;
  let collect: { kind: string; size: number; padded: number } | undefined;
  let longName: string | undefined;
  let pax = new Map<string, string>();
  let entries = 0;
  let bytes = 0;
  let following = true;
  for await (const chunk of stream) {
    if (following) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          buf = buf.subarray(n);
          skip -= n;
          if (skip > 0) break;
        }
        if (collect !== undefined) {
          if (buf.length < collect.padded) break;
          const data = buf.subarray(0, collect.size);
          if (collect.kind === 'L') longName = tarString(data, 0, data.length);
          else if (collect.kind === 'x') pax = parsePax(data);
          buf = buf.subarray(collect.padded);
          collect = undefined;
          continue;
        }
        if (buf.length < 512) break;
        const h = buf.subarray(0, 512);
        buf = buf.subarray(512);
        const flag = String.fromCharCode(h[156] ?? 0);
        const size = tarNumber(h, 124, 12);
        if (h.every((b) => b === 0) || !Number.isFinite(size) || !tarChecksumOk(h)) {
          following = false; // the end (or not a tar: readTarMembers says so)
          break;
        }
        const padded = Math.ceil(size / 512) * 512;
        if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
          if (size > 1 << 20) {
            following = false;
            break;
          }
          collect = { kind: flag, size, padded };
          continue;
        }
        const ustar = h.subarray(257, 263).toString('latin1') === 'ustar\0';
        const prefix = ustar ? tarString(h, 345, 155) : '';
        const base = tarString(h, 0, 100);
        const name = normalizeMemberPath(pax.get('path') ?? longName ?? (prefix === '' ? base : `${prefix}/${base}`)) || '.';
        const realSize = pax.has('size') ? Number(pax.get('size')) : size;
        entries++;
        if (entries > limits.maxEntries) throw overEntries(label, name, entries, limits.maxEntries);
        bytes += realSize;
        if (bytes > limits.maxExtractedBytes) throw overExtracted(label, name, realSize, limits.maxExtractedBytes);
        longName = undefined;
        pax = new Map();
        // Links, devices, directories and fifos carry no data.
        skip = '123456'.includes(flag) ? 0 : Math.ceil(realSize / 512) * 512;
      }
    }
    yield chunk;
  }
}

/** Write the request body to `file`, refusing more than `max` bytes. Returns its size and sha256. */
export async function receiveBody(body: AsyncIterable<Uint8Array>, file: string, max: number): Promise<{ size: number; sha256: string }> {
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  // A failed write (ENOSPC on a full disk) is an 'error' event: without a listener it would
  // bring the whole daemon down. Kept here and thrown at the next step instead.
  let failure: Error | undefined;
  out.on('error', (e) => (failure ??= e));
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of body) {
      if (failure !== undefined) throw failure;
      size += chunk.byteLength;
      if (size > max) {
        throw tooLarge(`the bundle is over the upload limit of ${max} bytes`, 'bundle only the recipe tree, compress it, or ask the operator to raise --bundle-max-bytes');
      }
      hash.update(chunk);
      // events.once removes both its listeners when either fires: a listener added per
      // wait and never removed (an 'error' one beside each 'drain') piled up on the stream,
      // one per full buffer of the upload (MaxListenersExceededWarning, memory held).
      if (!out.write(chunk)) await once(out, 'drain').catch(() => undefined);
    }
    if (failure !== undefined) throw failure;
  } finally {
    await new Promise<void>((resolve, reject) => {
      if (out.destroyed) return failure === undefined ? resolve() : reject(failure);
      out.end((e?: Error | null) => (e ? reject(e) : resolve()));
    }).catch((e: unknown) => {
      failure ??= e as Error;
    });
  }
  if (failure !== undefined) throw failure;
  return { size, sha256: hash.digest('hex') };
}

/**
 * The member list of an uploaded tar, decompressed on the fly; a stream that decompresses
 * past `maxBytes` (an archive bomb) is stopped there with a 413, long before its end.
 */
export async function listBundle(file: string, label: string, maxBytes: number, signal?: AbortSignal, shownLimit = maxBytes, limits?: Pick<BundleLimits, 'maxEntries' | 'maxExtractedBytes'>): Promise<TarMember[]> {
  async function* capped(out: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let seen = 0;
    for await (const chunk of out) {
      seen += chunk.length;
      if (seen > maxBytes) {
        throw tooLarge(`${label}: decompresses to more than the limit of ${shownLimit} bytes (--bundle-max-extracted; an archive bomb?); nothing was extracted`, 'bundle only the recipe tree, or ask the operator to raise --bundle-max-extracted');
      }
      yield chunk;
    }
  }
  return readDecompressed(file, await detectCompression(file), (out) => readTarMembers(limits === undefined ? capped(out) : guardMemberSizes(capped(out), label, limits), label), {
    ...(signal === undefined ? {} : { signal }),
    stderrChars: 2000,
    cannotRun: (cmd, e) => new KilnError('archive-failed', `cannot run ${cmd} to read ${label}: ${e.message}`, { hint: `install ${cmd} on the server` }),
    failed: (cmd, code, stderr) => new KilnError('usage', `${label}: ${cmd} cannot decompress it (exit ${code}): ${stderr.trim()}`, { hint: 'send a tar, optionally compressed with gzip, zstd or xz, and complete' }),
  });
}

export interface StoreBundleOptions {
  readonly stateRoot: string;
  readonly tenant: string;
  readonly id: string;
  readonly limits: BundleLimits;
  readonly signal?: AbortSignal;
}

export interface StoredBundle {
  readonly dir: string;
  readonly sha256: string;
  readonly size: number;
  readonly entries: number;
  readonly bytes: number;
}

/**
 * Receive, check and extract a bundle into <state>/bundles/<tenant>/<id> (which must not
 * exist yet). Everything happens in a temp dir next to it; on any error that dir goes and
 * nothing else was written.
 */
export async function storeBundle(body: AsyncIterable<Uint8Array>, o: StoreBundleOptions): Promise<StoredBundle> {
  const root = bundlesRoot(o.stateRoot);
  const tmp = join(root, '.tmp', `${o.tenant}-${o.id}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const label = `bundle "${o.id}"`;
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  try {
    const upload = join(tmp, 'upload');
    const { size, sha256 } = await receiveBody(body, upload, o.limits.maxUploadBytes);
    if (size === 0) throw new KilnError('usage', `${label}: the upload is empty`, { hint: 'send the tar as the request body' });
    // Headers and padding: up to 1.5 KiB per member on top of the data.
    const members = await listBundle(upload, label, o.limits.maxExtractedBytes + o.limits.maxEntries * 1536 + 1024 * 1024, o.signal, o.limits.maxExtractedBytes, o.limits);
    const totals = checkBundleMembers(members, label, o.limits);
    const tree = join(tmp, 'tree');
    await mkdir(tree, { mode: 0o755 });
    // Read by tar as it was checked: the same decompression, not tar's own guess.
    await unpackArchive(upload, tree, { compression: await detectCompression(upload), ...(o.signal === undefined ? {} : { signal: o.signal }) });
    // What tar made, whatever it read: every link stays inside (extracted-tree.ts).
    const problem = extractedTreeProblem(tree, { absolute: 'refuse' });
    if (problem !== undefined) throw new KilnError('unsafe-path', `${label}: refused: ${problem}; nothing was kept`, { hint: 'a bundle holds only files, directories and links that stay inside it (pack the tree with `tar -C TREE -czf bundle.tgz .`)' });
    await sanitizeTree(tree);
    const dir = bundleDir(o.stateRoot, o.tenant, o.id);
    await mkdir(join(root, o.tenant), { recursive: true });
    try {
      await rename(tree, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new KilnError('conflict', `${label} already exists`, { hint: 'bundles are immutable: upload under a new id' });
      }
      throw e;
    }
    return { dir, sha256, size, ...totals };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * After extraction: drop setuid/setgid/sticky bits (tar running as root keeps them), keep
 * every directory writable by its owner (so the bundle can be removed), and make sure no
 * device node or fifo slipped through (the member check already refused them).
 */
export async function sanitizeTree(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) {
      if ((st.mode & 0o7000) !== 0 || (st.mode & 0o700) !== 0o700) await chmod(p, (st.mode & 0o777) | 0o700);
      await sanitizeTree(p);
    } else if (st.isFile()) {
      if ((st.mode & 0o7000) !== 0) await chmod(p, st.mode & 0o777);
    } else {
      throw new KilnError('unsafe-path', `bundle member ${p} is not a file, directory or link`, { hint: 'upload a tree of plain files, directories and symlinks (no devices, pipes or sockets)' });
    }
  }
}

/** Remove a stored bundle's tree (after a failed records insert). */
/**
 * A removed bundle's folder renamed aside at once (synchronously: no upload of the same id
 * can come in between); the caller removes what it returns. Undefined when it was not there.
 */
export function moveBundleAside(stateRoot: string, tenant: string, id: string): string | undefined {
  const aside = join(bundlesRoot(stateRoot), '.tmp', `removed-${tenant}-${id}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(join(bundlesRoot(stateRoot), '.tmp'), { recursive: true });
    renameSync(bundleDir(stateRoot, tenant, id), aside);
    return aside;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function removeBundleDir(stateRoot: string, tenant: string, id: string): Promise<void> {
  await rm(bundleDir(stateRoot, tenant, id), { recursive: true, force: true });
}

/**
 * At start: the temp dirs of uploads a dead daemon was receiving (killed mid-upload) are
 * removed. Their names end in `-<pid>-<8 hex>`; a live process's are left alone. The
 * removed names.
 */
export function sweepBundleTmp(stateRoot: string): string[] {
  const dir = join(bundlesRoot(stateRoot), '.tmp');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = /-(\d+)-[0-9a-f]{8}$/.exec(name)?.[1];
    // This process has no uploads yet: its own pid is a predecessor's (pid 1 in a container).
    if (pid === undefined || (Number(pid) !== process.pid && pidAlive(Number(pid)))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
