// What a run puts in the cluster's object store for its jobs (remote-executor.ts), each
// once (memo.ts: a blob put again within MEMO_MS is not put again): the artifacts its jobs
// stage, their package folders as tar blobs, and files such as a Debian job's index.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectStore } from '@nats-io/obj';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import { entryFiles } from '../cache/artifact-transfer.ts';
import { putFile } from './blobs.ts';
import { memo, type Memo } from './memo.ts';
import { packTree } from './tree-tar.ts';
import type { WireArtifact } from './wire.ts';

export interface RunBlobs {
  /** The blobs of a stored artifact. */
  artifact(key: string): Promise<WireArtifact>;
  /** A package folder (or `names` in it, links followed: a .dsc's orig tarball is often one) as a tar blob: sorted, fixed times and owners, so the same folder is the same blob. */
  tree(dir: string, names?: readonly string[]): Promise<string>;
  /** A file as it is. */
  file(path: string): Promise<string>;
}

export function runBlobs(blobs: ObjectStore, artifacts: ArtifactStore): RunBlobs {
  const uploaded: Memo<WireArtifact> = new Map();
  const trees: Memo<string> = new Map();
  const files: Memo<string> = new Map();
  return {
    artifact: (key) => memo(uploaded, key, async () => {
      const entry = await entryFiles(artifacts, key);
      if (entry === undefined) throw new Error(`the artifact ${key.slice(0, 16)} is not in this cache`);
      return {
        metaText: entry.metaText,
        manifest: entry.manifestText === null ? null : await putFile(blobs, join(artifacts.dir(key), 'manifest.json')),
        archive: entry.archivePath === null ? null : await putFile(blobs, entry.archivePath),
      };
    }),
    tree: (dir, names) => memo(trees, names === undefined ? dir : `${dir}\0${names.join('\0')}`, async () => {
      const tmp = await mkdtemp(join(tmpdir(), 'kiln-tree-'));
      try {
        const tar = join(tmp, 'tree.tar');
        await packTree(dir, names, tar);
        return await putFile(blobs, tar);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }),
    file: (path) => memo(files, path, () => putFile(blobs, path)),
  };
}
