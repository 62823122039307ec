// Which job `{job}` names in GET /api/v1/builds/{id}/jobs/{job}/log: its id, or a package
// name that is one job of the build (a name several archs share is a usage error).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKilnError } from '../../errors.ts';
import { jobNamed } from './jobs.ts';

const job = (name: string, arch: string) => ({ jobId: `${name}@${arch}`, name });

test('jobNamed: an id, or a bare name of one job; several jobs of a name is a usage error naming their ids', () => {
  const jobs = [job('zlib', 'amd64'), job('libpng', 'amd64'), job('libpng', 'arm64')];
  const cases: Array<[string, string | undefined]> = [
    ['zlib@amd64', 'zlib@amd64'],
    ['zlib', 'zlib@amd64'],
    ['libpng@arm64', 'libpng@arm64'],
    ['zlib@arm64', undefined],
    ['nosuch', undefined],
    ['', undefined],
  ];
  for (const [key, want] of cases) assert.equal(jobNamed(jobs, key, 'build b1')?.jobId, want, key);
  assert.throws(
    () => jobNamed(jobs, 'libpng', 'build b1'),
    (e) => isKilnError(e) && e.code === 'usage' && e.message === '"libpng" names 2 jobs of build b1: libpng@amd64, libpng@arm64' && /NAME@ARCH/.test(e.hint ?? ''),
  );
});
