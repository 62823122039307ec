import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedMethods, routeMatches } from './allowed-methods.ts';

test('routeMatches: literal segments, :params (one non-empty segment), a trailing *', () => {
  const cases: [string, string, boolean][] = [
    ['/api/v1/builds', '/api/v1/builds', true],
    ['/api/v1/builds', '/api/v1/builds/', false],
    ['/api/v1/builds/:id', '/api/v1/builds/abc', true],
    ['/api/v1/builds/:id', '/api/v1/builds/', false],
    ['/api/v1/builds/:id', '/api/v1/builds/abc/jobs', false],
    ['/api/v1/builds/:id/jobs/:job/log', '/api/v1/builds/1/jobs/zlib@amd64/log', true],
    ['/api/v1/builds/:id/jobs/:job/log', '/api/v1/builds/1/jobs/zlib@amd64/logs', false],
    ['/api/*', '/api/v1/anything/at/all', true],
    ['/', '/', true],
    ['/', '/x', false],
  ];
  for (const [route, path, want] of cases) assert.equal(routeMatches(route, path), want, `${route} vs ${path}`);
});

test('allowedMethods: the methods of matching routes, middleware left out, HEAD beside GET', () => {
  const routes = [
    { method: 'ALL', path: '/api/*' },
    { method: 'GET', path: '/api/v1/builds' },
    { method: 'POST', path: '/api/v1/builds' },
    { method: 'GET', path: '/api/v1/builds/:id' },
    { method: 'POST', path: '/api/v1/builds/:id/cancel' },
    { method: 'PUT', path: '/api/v1/bundles/:id' },
    { method: 'DELETE', path: '/api/v1/bundles/:id' },
  ];
  assert.deepEqual(allowedMethods(routes, '/api/v1/builds'), ['GET', 'HEAD', 'POST']);
  assert.deepEqual(allowedMethods(routes, '/api/v1/builds/7/cancel'), ['POST']);
  assert.deepEqual(allowedMethods(routes, '/api/v1/bundles/b1'), ['DELETE', 'PUT']);
  assert.deepEqual(allowedMethods(routes, '/api/v1/nothing'), []);
});
