import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // test/packages/ installs the packed tarballs in fresh folders: npm run test:packages (CI runs it)
    exclude: ['test/workers/**', 'test/packages/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // decision log lines (the default stdout sink) are asserted through sinks in the tests, not read from the console
    onConsoleLog: (log) => !(log.startsWith('{"time":') && log.includes('"hop":')),
    // CI also writes a JSON report, summed into one plain "N passed, N failed" line by scripts/test-summary.mjs
    reporters: process.env.CI === 'true' ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/node.json' },
    globalSetup: ['test/setup/shared.ts', 'test/setup/redis.ts', 'test/setup/postgres.ts', 'test/setup/nginx.ts'],
  },
});
