#!/usr/bin/env node
// kiln's entry point. Plain JavaScript so that it can refuse an old Node with a clear
// message before any TypeScript is loaded (type stripping needs Node >= 24).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `kiln: needs Node.js 24 or newer, but this is ${process.version} (${process.execPath}).\n` +
      `Run it through npm so that the pinned Node from node_modules is used: \`npx kiln ...\` ` +
      `or \`npm run kiln -- ...\` after \`npm ci\`, or scripts/kiln (which can be linked into PATH).\n`,
  );
  process.exit(2);
}
// Cache compiled (type-stripped) modules on disk: halves start-up on every later run.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
