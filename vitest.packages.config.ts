// The consumer tests (issue 12): the packages as users get them. `npm run test:packages` packs every package
// (scripts/pack.mjs) and installs the tarballs in fresh folders outside the repository with npm (registry for
// third-party packages). Files run one after another: each installs packages and starts servers.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/packages/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: process.env.CI === 'true' ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/packages.json' },
    globalSetup: ['test/packages/setup.ts'],
  },
});
