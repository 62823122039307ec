// Loaded before every test file (the `npm test` command imports it): a developer's own
// KILN_ENVS or KILN_STATE must not reach the tests, or tests that make envs in their temp
// state dir would write them into the developer's shared env directory instead.
// (KILN_TEST_ENVS and KILN_TEST_CACHE are the tests' own, deliberate shares.)
// Nor may a developer's KILN_NATS or its access files (a test's kiln would connect with them).
for (const name of ['KILN_ENVS', 'KILN_STATE', 'KILN_NATS', 'KILN_NATS_CREDS', 'KILN_NATS_NKEY', 'KILN_NATS_TLS_CA', 'KILN_NATS_TLS_CERT', 'KILN_NATS_TLS_KEY']) delete process.env[name];
