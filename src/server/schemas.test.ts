import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuildBodySchema, describeZodError, ListQuery } from './schemas.ts';

test('describeZodError: one plain line per field, the schema\'s own message before zod\'s, the tightest bound', () => {
  const rows: [unknown, string][] = [
    [{ tree: 'main', priority: 1e308 }, 'priority: must be at most 100'],
    [{ tree: 'main', priority: -1000 }, 'priority: must be at least -100'],
    [{ tree: 'main', priority: 1.5 }, 'priority: expected a whole number, got a number with a fraction'],
    [{ tree: 'main', priority: 'high' }, 'priority: expected a number, got a string'],
    [{ tree: 'main', debian: {} }, 'debian.suite: missing (expected a string); debian.sources: missing (expected a list)'],
    [{ tree: 'main', archs: ['AMD64'] }, 'archs.0: not a Debian architecture name (did you mean "amd64"?): amd64, arm64, armhf, i386, riscv64, ppc64el, s390x…'],
    [{ tree: 'main', archs: [] }, 'archs: must have at least 1 item(s)'],
    [{ tree: 'main', targets: 'hello' }, 'targets: expected a list, got a string'],
    [{ tree: 'main', colour: 1 }, 'unknown field "colour"'],
  ];
  for (const [body, want] of rows) {
    const r = BuildBodySchema.safeParse(body);
    assert.equal(r.success, false, JSON.stringify(body));
    assert.equal(describeZodError(r.error!), want, JSON.stringify(body));
  }
  const q = ListQuery.safeParse({ limit: 'abc' });
  assert.equal(describeZodError(q.error!), 'limit: expected a number, got something that is not a number');
  assert.equal(describeZodError(ListQuery.safeParse({ limit: '5000' }).error!), 'limit: must be at most 1000');
});
