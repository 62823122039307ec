// Loaded before every test file (the `npm test` command imports it): a developer's own
// KILN_ENVS or KILN_STATE must not reach the tests, or tests that make envs in their temp
// state dir would write them into the developer's shared env directory instead.
// (KILN_TEST_ENVS and KILN_TEST_CACHE are the tests' own, deliberate shares.)
for (const name of ['KILN_ENVS', 'KILN_STATE']) delete process.env[name];
